# Tests: lint, the unit layers (no Docker), the Docker layers, what CI runs, and `conformance` for any local image
# Which venv runs which folder: tests/README.md. Each unit/* target builds only the venv and data it needs.

UNITS := sm_contract chainer-mnist keras-text pipelines toolkit repo
# Every layer ends with its slowest tests (PYTEST_DURATIONS of them), so a CI log shows where the time goes.
PYTEST_DURATIONS ?= 10
pytest = $(call venv,$(1))/pytest $(2) --durations=$(PYTEST_DURATIONS) $(PYTEST_ARGS)

.PHONY: lint
lint: $(VENV_DIR)/chainer-mnist/.installed $(VENV_DIR)/pipelines/.installed ## ruff on all Python, hadolint on every Dockerfile, mypy --strict on the libraries and each image's image.py
	@scripts/lint.sh $(VENV_DIR)

.PHONY: unit
unit: $(UNITS:%=unit/%) ## every unit/* layer

.PHONY: unit/sm_contract
unit/sm_contract: $(VENV_DIR)/chainer-mnist/.installed ## the contract library, and the serving app and a user module in process
	$(call pytest,chainer-mnist,tests/unit/sm_contract tests/contract)

.PHONY: unit/chainer-mnist
unit/chainer-mnist: $(VENV_DIR)/chainer-mnist/.installed data ## chainer-mnist's code, and its training and serving in process
	$(call pytest,chainer-mnist,tests/unit/chainer_mnist tests/models/chainer_mnist)

# keras-text's layer is two pytest processes, so `make check` runs them side by side: the modules that train whole
# jobs (all of them, so the session's trained models are trained once), and everything else of tests/unit/keras_text
# and tests/models/keras_text (a new module lands there unless listed here).
KERAS_TEXT_JOBS := $(addprefix tests/models/keras_text/,test_train_serve.py test_tokenizers.py test_multi_model.py)
KERAS_TEXT_CODE := tests/unit/keras_text $(filter-out $(KERAS_TEXT_JOBS),$(wildcard tests/models/keras_text/test_*.py))
keras_text_pytest = KERAS_TEXT_VECTORS_DIR=$(abspath $(CHIVE_DIR)) $(call pytest,keras-text,$(1))

.PHONY: unit/keras-text
unit/keras-text: unit/keras-text/jobs unit/keras-text/code ## keras-text's code, and its training and serving in process (host TensorFlow)

.PHONY: unit/keras-text/jobs
unit/keras-text/jobs: $(VENV_DIR)/keras-text/.installed chive ## keras-text's whole training jobs in process, and their models served as the image serves them
	$(call keras_text_pytest,$(KERAS_TEXT_JOBS))

.PHONY: unit/keras-text/code
unit/keras-text/code: $(VENV_DIR)/keras-text/.installed chive ## keras-text's code: text pipeline, network, training loop, TF Serving handlers and REST API
	$(call keras_text_pytest,$(KERAS_TEXT_CODE))

.PHONY: unit/pipelines
unit/pipelines: $(VENV_DIR)/pipelines/.installed node_modules/.installed ## request builders, definitions, AWS calls against moto, ensure-docker.sh
	$(call pytest,pipelines,tests/unit/pipelines tests/scripts)

.PHONY: unit/toolkit
unit/toolkit: $(VENV_DIR)/toolkit/.installed ## script mode's environment and arguments against AWS's sagemaker-training toolkit
	$(call pytest,toolkit,tests/toolkit)

.PHONY: unit/repo
unit/repo: $(VENV_DIR)/chainer-mnist/.installed ## the repository itself: locks, docs, a fresh clone's data preparation
	$(call pytest,chainer-mnist,tests/repo)

# make check runs its layers CHECK_JOBS at a time (each venv's pytest is its own process; output kept per layer),
# the longest first: keras-text's two halves side by side, then pipelines' and the rest in the slot freed first.
CHECK_JOBS   ?= 2
CHECK_FIRST  := unit/keras-text/jobs unit/keras-text/code unit/pipelines
CHECK_LAYERS := $(CHECK_FIRST) $(filter-out $(CHECK_FIRST) unit/keras-text,lint $(UNITS:%=unit/%))

.PHONY: check
check: ## lint and every test that needs no Docker (lint, unit/*), CHECK_JOBS layers at a time, timed
	@scripts/timed.sh "make check" $(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target $(CHECK_LAYERS)

.PHONY: $(IMAGES:%=test/%)
$(IMAGES:%=test/%): test/%: $(VENV_DIR)/%/.installed docker build/% ## container tests of one image, e.g. make test/chainer-mnist
	$(call pytest,$*,tests/containers/$(subst -,_,$*) --image $*=$(call image,$*))

test/chainer-mnist: data

.PHONY: test/local-mode
test/local-mode: $(VENV_DIR)/pipelines/.installed data docker docker/registry build ## both images through local mode, compose, a registry push, and Step Functions locally
	$(call pytest,pipelines,tests/localmode tests/compose tests/containers/test_registry_push.py tests/pipelines \
		$(foreach i,$(IMAGES),--image $(i)=$(call image,$(i))))

.PHONY: test/conformance
test/conformance: $(VENV_DIR)/pipelines/.installed data docker build ## the conformance suite on stand-in images that break one point each, then on both images
	$(call pytest,pipelines,tests/conformance $(foreach i,$(IMAGES),--image $(i)=$(call image,$(i))))

.PHONY: test
test: ## everything CI runs: make check, then the container, local-mode and conformance layers one at a time, timed
	@scripts/timed.sh "make test" $(SHELL) -c \
		'$(MAKE) --no-print-directory check && $(MAKE) --no-print-directory $(IMAGES:%=test/%) test/local-mode test/conformance'

# Any local image against SageMaker's container contract (README: "Conformance"). The image's descriptor names
# the make target that prepares its channels' data, if any.
IMAGE            ?=
CONFORMANCE_ARGS ?=
DESCRIBE          = PYTHONPATH=pipelines/src $(PYTHON) -m byoc_pipelines.descriptor

.PHONY: conformance
conformance: $(VENV_DIR)/pipelines/.installed docker ## check a local image against SageMaker's container contract: IMAGE=byoc/chainer-mnist:latest (CONFORMANCE_ARGS: the CLI's flags)
	@test -n "$(IMAGE)" || { echo "usage: make conformance IMAGE=<local image> [CONFORMANCE_ARGS=...]" >&2; exit 2; }
	@prepare=$$($(DESCRIBE) prepare $(IMAGE)); if [ -n "$$prepare" ]; then $(MAKE) --no-print-directory $$prepare; fi
	$(call venv,pipelines)/python -m byoc_pipelines.cli conformance $(IMAGE) $(CONFORMANCE_ARGS)

