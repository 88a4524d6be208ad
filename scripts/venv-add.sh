#!/usr/bin/env bash
# Add a complete set of pins (installed with --no-deps, by uv) on top of an existing venv, e.g. the quality
# bench's baselines.
#   scripts/venv-add.sh VENV_DIR REQUIREMENTS
set -euo pipefail
venv=$1 requirements=$2
root=$(cd "$(dirname "$0")/.." && pwd)
echo ">> adding $requirements to $venv" >&2
UV_NATIVE_TLS=1 "${UV:-$root/.venv/uv/bin/uv}" pip install --quiet --python "$venv/bin/python" --no-deps \
  -r "$requirements"
