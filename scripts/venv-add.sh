#!/usr/bin/env bash
# Add a complete lock (installed with --no-deps) on top of an existing venv, e.g. the quality bench's baselines.
#   scripts/venv-add.sh VENV_DIR REQUIREMENTS
set -euo pipefail
venv=$1 requirements=$2
echo ">> adding $requirements to $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements"
