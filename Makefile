# Build, test and ship the SageMaker bring-your-own images under containers/.
# `make help` lists the public targets; knobs below can be overridden (`make test IMAGE_PREFIX=me`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

IMAGES        := chainer-mnist
PYTHON        ?= python3
IMAGE_PREFIX  ?= byoc
IMAGE_TAG     ?= latest
VENV_DIR      ?= .venv
DATA_DIR      ?= data
# Offline source of the four MNIST IDX files; empty means chainer.datasets.get_mnist() downloads them.
MNIST_IDX_DIR ?= $(firstword $(wildcard ../shared/data/mnist))
PYTEST_ARGS   ?=

image = $(IMAGE_PREFIX)/$(1):$(IMAGE_TAG)
venv  = $(VENV_DIR)/$(1)/bin

.PHONY: help
help: ## list the public targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%\/.-]+:.*## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---- set-up -----------------------------------------------------------------------------------------

.PHONY: venvs
venvs: $(foreach i,$(IMAGES),$(VENV_DIR)/$(i)/.installed) ## create one host venv per image (same pins as its Dockerfile)

$(VENV_DIR)/%/.installed: containers/%/requirements.txt containers/build-requirements.txt requirements-dev.txt containers/%/pyproject.toml containers/sm_contract/pyproject.toml
	@echo ">> venv for $*"
	scripts/make-venv.sh $* $(VENV_DIR)/$*
	@touch $@

.PHONY: docker
docker: ## make Docker usable here (install and start dockerd, base image) if it is not already
	@scripts/docker/ensure-docker.sh

.PHONY: data
data: $(DATA_DIR)/mnist/.prepared ## prepare the tutorial's MNIST channels in data/mnist

$(DATA_DIR)/mnist/.prepared: scripts/prepare_mnist.py | $(VENV_DIR)/chainer-mnist/.installed
	@echo ">> preparing MNIST in $(DATA_DIR)/mnist"
	CHAINER_DATASET_ROOT=$(abspath $(DATA_DIR))/chainer-cache MNIST_IDX_DIR=$(MNIST_IDX_DIR) \
		$(call venv,chainer-mnist)/python scripts/prepare_mnist.py --out $(DATA_DIR)/mnist
	@touch $@

# ---- images -----------------------------------------------------------------------------------------

.PHONY: build/%
build/%: ## build one image, e.g. make build/chainer-mnist
	@echo ">> building $(call image,$*)"
	scripts/docker/build-image.sh $* $(call image,$*) >/dev/null

.PHONY: build-all
build-all: $(foreach i,$(IMAGES),build/$(i)) ## build every image

# ---- quality ----------------------------------------------------------------------------------------

.PHONY: lint
lint: $(VENV_DIR)/chainer-mnist/.installed ## ruff on all Python, hadolint on every Dockerfile
	@echo ">> lint"
	$(call venv,chainer-mnist)/ruff check containers scripts tests bench
	$(call venv,chainer-mnist)/hadolint $(foreach i,$(IMAGES),containers/$(i)/Dockerfile)

.PHONY: test-unit
test-unit: $(foreach i,$(IMAGES),$(VENV_DIR)/$(i)/.installed) data ## unit and in-process contract tests (no Docker)
	@echo ">> unit and contract tests"
	$(call venv,chainer-mnist)/pytest tests/unit/sm_contract tests/contract tests/unit/chainer_mnist $(PYTEST_ARGS)

.PHONY: test/%
test/%: $(VENV_DIR)/%/.installed data docker build/% ## container tests of one image, e.g. make test/chainer-mnist
	@echo ">> container tests of $*"
	$(call venv,$*)/pytest tests/containers/$(subst -,_,$*) --image $*=$(call image,$*) $(PYTEST_ARGS)

.PHONY: test
test: lint test-unit $(foreach i,$(IMAGES),test/$(i)) ## everything CI runs: lint, unit, contract and container tests

# ---- running ----------------------------------------------------------------------------------------

.PHONY: demo
demo: data docker build/chainer-mnist ## the main job locally: train the Chainer model, batch-transform test.npy, print accuracy
	@echo ">> demo"
	$(call venv,chainer-mnist)/python scripts/demo_chainer.py --image $(call image,chainer-mnist) --data $(DATA_DIR)/mnist

.PHONY: bench/chainer-mnist
bench/chainer-mnist: $(VENV_DIR)/chainer-mnist/.installed data docker build/chainer-mnist ## benchmarks of the Chainer image (JSON in bench/results)
	@echo ">> benchmarks of chainer-mnist"
	$(call venv,chainer-mnist)/python bench/chainer_training.py --data $(DATA_DIR)/mnist
	$(call venv,chainer-mnist)/python bench/chainer_serving.py --image $(call image,chainer-mnist) --data $(DATA_DIR)/mnist

.PHONY: clean
clean: ## remove venvs, prepared data and build leftovers (images stay)
	rm -rf $(VENV_DIR) $(DATA_DIR) .pytest_cache .ruff_cache
