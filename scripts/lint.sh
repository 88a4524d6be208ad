#!/usr/bin/env bash
# `make lint`: ruff on all Python, hadolint on every Dockerfile, mypy --strict on the two libraries and each
# image's image.py (its typed entry points).
#   scripts/lint.sh VENV_DIR     (the chainer-mnist venv's tools; the pipelines venv for its own package)
set -euo pipefail
venvs=$1
tools=$venvs/chainer-mnist/bin
cd "$(dirname "$0")/.."
echo ">> lint: ruff, hadolint, mypy --strict" >&2
"$tools/ruff" check --quiet containers pipelines scripts tests bench examples
"$tools/hadolint" containers/*/Dockerfile tests/conformance/images/*/Dockerfile
# One cache per venv: the two venvs' mypy, typeshed and numpy live at different paths, so a shared cache would
# have each run throw away what the other wrote and check the standard library again every time.
"$tools/mypy" --strict --cache-dir .mypy_cache/chainer-mnist containers/sm_contract/src containers/*/src/*/image.py
"$venvs/pipelines/bin/mypy" --strict --cache-dir .mypy_cache/pipelines pipelines/src
