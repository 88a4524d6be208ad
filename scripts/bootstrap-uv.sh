#!/usr/bin/env bash
# Install uv, the installer of every other host venv and the lock tool, into a venv of its own, hash-locked from
# PyPI (scripts/requirements-uv.txt) with the pip that `python3 -m venv` brings. Quick when it is there already.
#   scripts/bootstrap-uv.sh VENV_DIR      (then VENV_DIR/bin/uv)
set -euo pipefail
venv=$1
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
echo ">> uv (hash-locked, into $venv)" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r "$root/scripts/requirements-uv.txt"
"$venv/bin/uv" --version >&2
