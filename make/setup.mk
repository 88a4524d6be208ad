# Set-up: venvs, locks, data, the chiVe table, Docker and the other tools

VENVS := chainer-mnist keras-text pipelines toolkit

.PHONY: venvs
venvs: $(foreach v,$(VENVS),$(VENV_DIR)/$(v)/.installed) ## every host venv: one per image (its Dockerfile's pins), the tools venv, the toolkit oracle

$(VENV_DIR)/pipelines/.installed: pipelines/requirements.txt pipelines/pyproject.toml requirements-dev.txt containers/build-requirements.txt
	@scripts/make-venv.sh pipelines $(VENV_DIR)/pipelines
	@touch $@

$(VENV_DIR)/toolkit/.installed: tests/toolkit/requirements.txt containers/build-requirements.txt containers/sm_contract/pyproject.toml
	@scripts/make-venv.sh toolkit $(VENV_DIR)/toolkit
	@touch $@

$(VENV_DIR)/%/.installed: containers/%/requirements.txt containers/%/requirements.in containers/build-requirements.txt requirements-dev.txt containers/%/pyproject.toml containers/sm_contract/pyproject.toml
	@scripts/make-venv.sh $* $(VENV_DIR)/$*
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo ">> node tools (asl-validator)"
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: lock
lock: $(VENV_DIR)/pipelines/.installed ## regenerate every hash-locked requirements.txt from its requirements.in (uv)
	@echo ">> locking requirements (uv)"
	scripts/lock-requirements.sh $(call venv,pipelines)/uv

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

.PHONY: docker
docker: ## make Docker usable here (install and start dockerd, base image) if it is not already
	@scripts/docker/ensure-docker.sh

.PHONY: docker/registry
docker/registry: ## install Debian's docker-registry (the registry push test's local registry) if it is missing
	@scripts/docker/ensure-registry.sh

.PHONY: clean
clean: ## remove venvs, prepared data and build leftovers (images stay)
	rm -rf $(VENV_DIR) $(DATA_DIR) build node_modules .pytest_cache .ruff_cache
