# Build, test and ship the SageMaker bring-your-own images under containers/.
# `make help` lists the public targets; knobs below can be overridden (`make test IMAGE_PREFIX=me`).
#
# The targets live in make/, one file per concern:
#   make/setup.mk      venvs, locks, data, the chiVe table, Docker and the other tools
#   make/images.mk     build and push the images
#   make/tests.mk      lint, check, unit/*, test/<image>, test/local-mode, test/conformance, test (what CI runs),
#                      conformance (any image against SageMaker's container contract)
#   make/pipelines.mk  demo, pipeline/*, endpoint/*
#   make/bench.mk      bench/*
# Naming: a target is a verb (`demo`, `lint`, `lock`) or `family/member` (`build/keras-text`, `unit/pipelines`,
# `pipeline/local`), the member spelled as its folder is (`unit/sm_contract`, `test/chainer-mnist`); `make FAMILY`
# alone runs every member (`make build`, `make unit`, `make bench`). A new target goes into the file of its
# concern (a new concern: a new make/*.mk, included below), with `.PHONY` on the line above it, `## what it does`
# at the end of its rule's line (what `make help` prints), prerequisites that build only what it needs, and a
# recipe of at most about three lines that calls a script (installs live in scripts/, never `apt-get` in a recipe).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON        ?= python3
# Every image described by a containers/<name>/image.toml (byoc_pipelines.descriptor, standard library only).
IMAGES        := $(shell PYTHONPATH=pipelines/src $(PYTHON) -m byoc_pipelines.descriptor names)
ifeq ($(IMAGES),)
$(error no image found: `PYTHONPATH=pipelines/src $(PYTHON) -m byoc_pipelines.descriptor names` says why)
endif
IMAGE_PREFIX  ?= byoc
IMAGE_TAG     ?= latest
VENV_DIR      ?= .venv
DATA_DIR      ?= data
# The four MNIST IDX files (shipped in datasets/mnist with their licence).
MNIST_IDX_DIR ?= datasets/mnist
# The chiVe word vectors (keras-text's default embedding) for the host's tests and benches.
CHIVE_DIR     ?= $(DATA_DIR)/chive
PYTEST_ARGS   ?=
PUSH_ARGS     ?=
DEMO_ARGS     ?=
LOCAL_ARGS    ?=
RUN_ARGS      ?=
ENDPOINT_ARGS ?=

image = $(IMAGE_PREFIX)/$(1):$(IMAGE_TAG)
venv  = $(VENV_DIR)/$(1)/bin

include make/setup.mk make/images.mk make/tests.mk make/pipelines.mk make/bench.mk

.PHONY: help
help: ## list the public targets, by concern
	@scripts/make-help.sh $(MAKEFILE_LIST)
