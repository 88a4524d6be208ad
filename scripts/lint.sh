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
"$tools/mypy" --strict containers/sm_contract/src containers/*/src/*/image.py
"$venvs/pipelines/bin/mypy" --strict pipelines/src
