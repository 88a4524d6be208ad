# Build, test and ship the SageMaker bring-your-own images under containers/.
# `make help` lists the public targets; knobs below can be overridden (`make test IMAGE_PREFIX=me`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

IMAGES        := chainer-mnist keras-text
PYTHON        ?= python3
IMAGE_PREFIX  ?= byoc
IMAGE_TAG     ?= latest
VENV_DIR      ?= .venv
DATA_DIR      ?= data
# The four MNIST IDX files (shipped in datasets/mnist with their licence); they seed Chainer's dataset cache.
MNIST_IDX_DIR ?= datasets/mnist
# The chiVe word vectors (keras-text's default embedding) for the host's tests and benches.
CHIVE_DIR     ?= $(DATA_DIR)/chive
PYTEST_ARGS   ?=
PUSH_ARGS     ?=
DEMO_ARGS     ?=
LOCAL_ARGS    ?=
RUN_ARGS      ?=
# The tutorial's script-mode flow: its script from examples/chainer-script, trained with ChainerMN on 2 hosts.
SCRIPT_FLOW   ?= --source-dir examples/chainer-script --program chainer_mnist.py --instance-count 2

image = $(IMAGE_PREFIX)/$(1):$(IMAGE_TAG)
venv  = $(VENV_DIR)/$(1)/bin

.PHONY: help
help: ## list the public targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%\/.-]+:.*## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---- set-up -----------------------------------------------------------------------------------------

.PHONY: venvs
venvs: $(foreach i,$(IMAGES),$(VENV_DIR)/$(i)/.installed) $(VENV_DIR)/pipelines/.installed ## create the host venvs: one per image (same pins as its Dockerfile) and the tools venv

$(VENV_DIR)/pipelines/.installed: pipelines/requirements.txt pipelines/pyproject.toml requirements-dev.txt containers/build-requirements.txt
	@echo ">> tools venv (SageMaker SDK, boto3, moto)"
	scripts/make-venv.sh pipelines $(VENV_DIR)/pipelines
	@touch $@

$(VENV_DIR)/%/.installed: containers/%/requirements.txt containers/%/requirements.in containers/build-requirements.txt requirements-dev.txt containers/%/pyproject.toml containers/sm_contract/pyproject.toml
	@echo ">> venv for $*"
	scripts/make-venv.sh $* $(VENV_DIR)/$*
	@touch $@

$(VENV_DIR)/toolkit/.installed: tests/toolkit/requirements.txt containers/build-requirements.txt containers/sm_contract/pyproject.toml
	@echo ">> toolkit venv (the script-mode parity oracle)"
	scripts/make-venv.sh toolkit $(VENV_DIR)/toolkit
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo ">> node tools (asl-validator)"
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: lock
lock: $(VENV_DIR)/pipelines/.installed ## regenerate the images' hash-locked requirements.txt from their requirements.in
	@echo ">> locking requirements (uv)"
	scripts/lock-requirements.sh $(call venv,pipelines)/uv

.PHONY: docker
docker: ## make Docker usable here (install and start dockerd, base image) if it is not already
	@scripts/docker/ensure-docker.sh

.PHONY: data
data: $(DATA_DIR)/mnist/.prepared ## prepare the tutorial's MNIST channels in data/mnist

$(DATA_DIR)/mnist/.prepared: scripts/prepare_mnist.py $(wildcard $(MNIST_IDX_DIR)/*.gz) | $(VENV_DIR)/chainer-mnist/.installed
	@echo ">> preparing MNIST in $(DATA_DIR)/mnist"
	CHAINER_DATASET_ROOT=$(abspath $(DATA_DIR))/chainer-cache MNIST_IDX_DIR=$(MNIST_IDX_DIR) \
		$(call venv,chainer-mnist)/python scripts/prepare_mnist.py --out $(DATA_DIR)/mnist
	@touch $@

.PHONY: chive
chive: $(CHIVE_DIR)/.extracted ## extract the chiVe word vectors of keras-text's default model to data/chive (as the image build does)

$(CHIVE_DIR)/.extracted: containers/keras-text/requirements-vectors.txt containers/keras-text/src/keras_text/text/vectors.py containers/keras-text/NOTICE scripts/extract-chive.sh | $(VENV_DIR)/keras-text/.installed
	@echo ">> extracting the chiVe vectors to $(CHIVE_DIR)"
	scripts/extract-chive.sh $(CHIVE_DIR) $(call venv,keras-text)/python
	@touch $@

# ---- images -----------------------------------------------------------------------------------------

.PHONY: build/%
build/%: ## build one image, e.g. make build/chainer-mnist
	@echo ">> building $(call image,$*)"
	scripts/docker/build-image.sh $* $(call image,$*) >/dev/null

.PHONY: build-all
build-all: $(foreach i,$(IMAGES),build/$(i)) ## build every image

.PHONY: push/%
push/%: $(VENV_DIR)/pipelines/.installed docker build/% ## push one image to ECR as <git-sha>[-dirty] and latest (PUSH_ARGS="--region ...")
	@echo ">> pushing $(call image,$*)" >&2
	$(call venv,pipelines)/python -m byoc_pipelines.cli push $(call image,$*) --repository $(IMAGE_PREFIX)/$* $(PUSH_ARGS)

.PHONY: push-all
push-all: $(foreach i,$(IMAGES),push/$(i)) ## push every image to ECR

# ---- quality ----------------------------------------------------------------------------------------

.PHONY: lint
lint: $(VENV_DIR)/chainer-mnist/.installed $(VENV_DIR)/pipelines/.installed ## ruff on all Python, hadolint on every Dockerfile, mypy --strict on the libraries and each image's image.py
	@echo ">> lint"
	$(call venv,chainer-mnist)/ruff check containers pipelines scripts tests bench examples
	$(call venv,chainer-mnist)/hadolint $(foreach i,$(IMAGES),containers/$(i)/Dockerfile)
	$(call venv,chainer-mnist)/mypy --strict containers/sm_contract/src $(foreach i,$(IMAGES),containers/$(i)/src/$(subst -,_,$(i))/image.py)
	$(call venv,pipelines)/mypy --strict pipelines/src

.PHONY: test-unit
test-unit: venvs $(VENV_DIR)/toolkit/.installed data chive node_modules/.installed ## unit, contract and in-process model tests (no Docker, no AWS)
	@echo ">> unit and contract tests"
	$(call venv,chainer-mnist)/pytest tests/unit/sm_contract tests/contract tests/unit/chainer_mnist tests/models/chainer_mnist tests/repo $(PYTEST_ARGS)
	KERAS_TEXT_VECTORS_DIR=$(abspath $(CHIVE_DIR)) $(call venv,keras-text)/pytest tests/unit/keras_text tests/models/keras_text $(PYTEST_ARGS)
	$(call venv,toolkit)/pytest tests/toolkit $(PYTEST_ARGS)
	$(call venv,pipelines)/pytest tests/unit/pipelines tests/scripts $(PYTEST_ARGS)

.PHONY: test/%
test/%: $(VENV_DIR)/%/.installed data docker build/% ## container tests of one image, e.g. make test/chainer-mnist
	@echo ">> container tests of $*"
	$(call venv,$*)/pytest tests/containers/$(subst -,_,$*) --image $*=$(call image,$*) $(PYTEST_ARGS)

.PHONY: docker-registry
docker-registry: ## install Debian's docker-registry (the registry push test's local registry) if it is missing
	@scripts/docker/ensure-registry.sh

.PHONY: test-local-mode
test-local-mode: $(VENV_DIR)/pipelines/.installed data docker docker-registry build-all ## both images through local mode, compose, a registry push, and Step Functions locally
	@echo ">> local mode, compose, registry and Step Functions tests"
	$(call venv,pipelines)/pytest tests/localmode tests/compose tests/containers/test_registry_push.py tests/pipelines \
		$(foreach i,$(IMAGES),--image $(i)=$(call image,$(i))) $(PYTEST_ARGS)

.PHONY: test
test: lint test-unit $(foreach i,$(IMAGES),test/$(i)) test-local-mode ## everything CI runs: lint, unit, contract, container and local-mode tests

# ---- running ----------------------------------------------------------------------------------------

.PHONY: demo
demo: $(VENV_DIR)/pipelines/.installed data docker build-all ## the main job locally: the Chainer Step Functions workflow, then the Keras endpoint (DEMO_ARGS=--verbose)
	@echo ">> demo"
	@$(call venv,pipelines)/python -m byoc_pipelines.cli demo --chainer-image $(call image,chainer-mnist) \
		--keras-image $(call image,keras-text) --mnist $(DATA_DIR)/mnist $(DEMO_ARGS)

# ---- Step Functions ---------------------------------------------------------------------------------

SFN = $(call venv,pipelines)/python -m byoc_pipelines.cli
DEF ?= chainer-mnist-batch

.PHONY: pipeline-render
pipeline-render: $(VENV_DIR)/pipelines/.installed ## write the definitions (JSON) and their pictures (PNG, SVG) to pipelines/definitions
	@echo ">> rendering the state machines"
	@command -v dot >/dev/null || { echo ">> installing graphviz"; apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
	$(SFN) render

.PHONY: pipeline-validate
pipeline-validate: $(VENV_DIR)/pipelines/.installed node_modules/.installed ## statelint, asl-validator and botocore request shapes for every definition; parliament on the IAM policies
	@echo ">> validating the state machines"
	$(SFN) validate

.PHONY: pipeline-deploy
pipeline-deploy: $(VENV_DIR)/pipelines/.installed ## deploy to AWS: three IAM roles, Lambda, state machines (create or update)
	$(SFN) deploy

.PHONY: pipeline-run
pipeline-run: $(VENV_DIR)/pipelines/.installed ## start an execution of DEF on AWS and follow it (DEF=chainer-mnist-batch; RUN_ARGS: flags of `run`, see README)
	$(SFN) run $(DEF) $(RUN_ARGS)

.PHONY: pipeline-local
pipeline-local: $(VENV_DIR)/pipelines/.installed data docker build-all ## run both definitions on one machine: moto's Step Functions engine + real containers (LOCAL_ARGS=--verbose)
	@echo ">> the Chainer workflow, locally: the tutorial's script on 2 hosts (script mode)"
	@$(SFN) local chainer-mnist-batch --image $(call image,chainer-mnist) --data $(DATA_DIR)/mnist $(SCRIPT_FLOW) \
		--hyperparameter epochs=2 --hyperparameter units=100 --hyperparameter batch-size=50 $(LOCAL_ARGS)
	@echo ">> the Keras endpoint workflow, locally"
	@$(SFN) local keras-text-endpoint --image $(call image,keras-text) --data datasets/knbc $(LOCAL_ARGS)

.PHONY: endpoint-up
endpoint-up: $(VENV_DIR)/pipelines/.installed ## create a model, endpoint config and endpoint on AWS and wait until InService
	$(SFN) endpoint-up $(ENDPOINT_ARGS)

.PHONY: endpoint-down
endpoint-down: $(VENV_DIR)/pipelines/.installed ## delete the endpoint, its config and model
	$(SFN) endpoint-down $(ENDPOINT_ARGS)

# ---- benchmarks -------------------------------------------------------------------------------------
# Benches run the images tagged $(BENCH_TAG) (built here, never :latest) from the chainer-mnist venv (Docker SDK,
# NumPy, Chainer for the in-process contender); results land in bench/results/*.json and bench/results/SUMMARY.md.
# Knobs: SOAK_SECONDS per image (the soak's default is 600; `make bench SOAK_SECONDS=120` for a shorter one),
# BENCH_ROUNDS interleaved rounds, MULTIHOST_EPOCHS (chainer-mnist) and MULTIHOST_KERAS_EPOCHS (keras-text),
# BENCH_ARGS passed to every timed bench.

BENCH_TAG        ?= bench
SOAK_SECONDS     ?= 600
BENCH_ROUNDS     ?= 5
MULTIHOST_EPOCHS ?= 3
MULTIHOST_KERAS_EPOCHS ?= 5
BENCH_ARGS       ?=
PY_SPY_VERSION   ?= 0.4.3
BENCH_PY          = $(call venv,chainer-mnist)/python
bench_image       = $(IMAGE_PREFIX)/$(1):$(BENCH_TAG)
BENCH_SUMMARY     = $(BENCH_PY) bench/summary.py --readme README.md

.PHONY: wrk
wrk: ## install wrk (Debian's package), the benches' load generator, if it is missing
	@command -v wrk >/dev/null || { echo ">> installing wrk"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

.PHONY: bench-images
bench-images: docker ## build both images tagged BENCH_TAG (default bench), never latest
	@$(MAKE) --no-print-directory $(foreach i,$(IMAGES),build/$(i)) IMAGE_TAG=$(BENCH_TAG)

.PHONY: bench
bench: bench/chainer-mnist bench/profile bench/keras-text bench/cold-start bench/soak bench/multihost bench/quality ## every bench, then bench/results/SUMMARY.md and the README's table
	@echo ">> benchmark summary"
	$(BENCH_SUMMARY)

.PHONY: bench/chainer-mnist
bench/chainer-mnist: $(VENV_DIR)/chainer-mnist/.installed data wrk bench-images ## chainer-mnist: training loops, serving vs in-process and baseline
	@echo ">> benchmarks of chainer-mnist"
	$(BENCH_PY) bench/chainer_training.py --data $(DATA_DIR)/mnist
	$(BENCH_PY) bench/chainer_serving.py --image $(call bench_image,chainer-mnist) --data $(DATA_DIR)/mnist --rounds $(BENCH_ROUNDS) $(BENCH_ARGS) && $(BENCH_SUMMARY)

.PHONY: bench/keras-text
bench/keras-text: $(VENV_DIR)/chainer-mnist/.installed wrk bench-images bench-tools ## keras-text serving: TF Serving-contract path vs built-in path, and the Python-client bench
	@echo ">> serving benchmarks of keras-text"
	$(BENCH_PY) bench/keras_text_tfs.py --image $(call bench_image,keras-text) --rounds $(BENCH_ROUNDS) --py-spy $(VENV_DIR)/bench-tools/bin/py-spy $(BENCH_ARGS)
	$(BENCH_PY) bench/keras_text_serving.py --image $(call bench_image,keras-text) && $(BENCH_SUMMARY)

.PHONY: bench/cold-start
bench/cold-start: $(VENV_DIR)/chainer-mnist/.installed data bench-images ## both images: docker run to the first /ping 200, median of 5, one harness
	$(BENCH_PY) bench/cold_start.py $(foreach i,$(IMAGES),--image $(i)=$(call bench_image,$(i))) && $(BENCH_SUMMARY)

.PHONY: bench/soak
bench/soak: $(VENV_DIR)/chainer-mnist/.installed data wrk bench-images ## soak of both images: SOAK_SECONDS each at concurrency 16, valid, hostile and abandoned requests
	@echo ">> soak, $(SOAK_SECONDS) s per image"
	$(foreach i,$(IMAGES),$(BENCH_PY) bench/soak.py $(i) --image $(call bench_image,$(i)) --seconds $(SOAK_SECONDS) &&) true
	$(BENCH_SUMMARY)

.PHONY: bench/multihost
bench/multihost: $(VENV_DIR)/chainer-mnist/.installed data bench-images ## both built-in trainers on 2 local hosts vs 1 (accuracy, time)
	@echo ">> multi-host training, $(MULTIHOST_EPOCHS) epochs (chainer-mnist), $(MULTIHOST_KERAS_EPOCHS) (keras-text)"
	$(BENCH_PY) bench/multihost.py chainer-mnist --image $(call bench_image,chainer-mnist) --epochs $(MULTIHOST_EPOCHS)
	$(BENCH_PY) bench/multihost.py keras-text --image $(call bench_image,keras-text) --epochs $(MULTIHOST_KERAS_EPOCHS)
	$(BENCH_SUMMARY)

.PHONY: bench-tools
bench-tools: $(VENV_DIR)/bench-tools/.installed ## py-spy in its own venv (the serving profile's sampler)

$(VENV_DIR)/bench-tools/.installed:
	@echo ">> bench tools venv (py-spy)"
	$(PYTHON) -m venv $(VENV_DIR)/bench-tools && $(VENV_DIR)/bench-tools/bin/pip install -q py-spy==$(PY_SPY_VERSION)
	@touch $@

.PHONY: bench/profile
bench/profile: $(VENV_DIR)/chainer-mnist/.installed data wrk bench-images bench-tools ## chainer-mnist server CPU per request: ablations on scratch copies, py-spy
	@echo ">> profile of the chainer-mnist server"
	$(BENCH_PY) bench/serving_profile.py --image $(call bench_image,chainer-mnist) --py-spy $(VENV_DIR)/bench-tools/bin/py-spy
	$(BENCH_SUMMARY)

.PHONY: bench/quality
bench/quality: $(VENV_DIR)/keras-text/.installed chive ## keras-text model quality on the KNB test split (host TensorFlow), with both baselines
	@echo ">> keras-text quality"
	$(call venv,keras-text)/python -m pip install -q --disable-pip-version-check --no-deps -r bench/keras_text_requirements.txt
	$(call venv,keras-text)/python bench/keras_text_quality.py --vectors $(CHIVE_DIR) && $(BENCH_SUMMARY)

.PHONY: clean
clean: ## remove venvs, prepared data and build leftovers (images stay)
	rm -rf $(VENV_DIR) $(DATA_DIR) build node_modules .pytest_cache .ruff_cache
