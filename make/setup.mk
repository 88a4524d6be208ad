# Set-up: venvs, locks, data, the chiVe table, Docker and the other tools

VENVS := $(IMAGES) pipelines toolkit
UV    := $(VENV_DIR)/uv/bin/uv
# Every venv is made by scripts/make-venv.sh with uv, from hash-locked requirements.
make_venv = @UV=$(UV) scripts/make-venv.sh $(1) $(VENV_DIR)/$(1) && touch $(VENV_DIR)/$(1)/.installed

.PHONY: venvs
venvs: $(VENVS:%=$(VENV_DIR)/%/.installed) ## every host venv: one per image (its Dockerfile's pins), the tools venv, the toolkit oracle

$(VENV_DIR)/uv/.installed: scripts/requirements-uv.txt
	@scripts/bootstrap-uv.sh $(VENV_DIR)/uv && touch $@

$(VENV_DIR)/pipelines/.installed: scripts/make-venv.sh pipelines/requirements.txt pipelines/pyproject.toml containers/build-requirements.txt | $(VENV_DIR)/uv/.installed
	$(call make_venv,pipelines)

$(VENV_DIR)/toolkit/.installed: scripts/make-venv.sh tests/toolkit/requirements.txt containers/build-requirements.txt containers/sm_contract/pyproject.toml | $(VENV_DIR)/uv/.installed
	$(call make_venv,toolkit)

$(VENV_DIR)/bench-tools/.installed: scripts/make-venv.sh bench/tools-requirements.txt | $(VENV_DIR)/uv/.installed
	$(call make_venv,bench-tools)

$(VENV_DIR)/%/.installed: scripts/make-venv.sh containers/%/requirements.txt containers/build-requirements.txt requirements-dev.txt containers/%/pyproject.toml containers/sm_contract/pyproject.toml | $(VENV_DIR)/uv/.installed
	$(call make_venv,$*)

node_modules/.installed: package.json package-lock.json
	@echo ">> node tools (asl-validator)"
	@npm ci --no-audit --no-fund --loglevel=error && touch $@

.PHONY: lock
lock: $(VENV_DIR)/uv/.installed ## regenerate every hash-locked requirements.txt from its requirements.in (uv)
	scripts/lock-requirements.sh $(UV)

.PHONY: data
data: $(DATA_DIR)/mnist/.prepared ## prepare the tutorial's MNIST channels in data/mnist

$(DATA_DIR)/mnist/.prepared: scripts/prepare_mnist.py $(wildcard $(MNIST_IDX_DIR)/*.gz $(MNIST_IDX_DIR)/SHA256SUMS)
	@echo ">> preparing MNIST in $(DATA_DIR)/mnist (standard library only)"
	@$(PYTHON) scripts/prepare_mnist.py --out $(DATA_DIR)/mnist --idx-dir $(MNIST_IDX_DIR) && touch $@

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
