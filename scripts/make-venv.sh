#!/usr/bin/env bash
# Create one host venv with uv from hash-locked requirements (every install --require-hashes); our own packages
# are installed editable.
#   scripts/make-venv.sh NAME VENV_DIR
# NAME: an image (its venv gets the same lock its Dockerfile installs, plus the test tooling of
# requirements-dev.txt, locked to agree with it), `pipelines` (the tools venv: SageMaker SDK, boto3, moto, the
# test tooling), `toolkit` (the oracle of the script-mode parity tests) or `bench-tools` (py-spy).
# UV (default .venv/uv/bin/uv, from scripts/bootstrap-uv.sh) and PYTHON (default python3) can be overridden;
# uv's own cache (UV_CACHE_DIR) makes a second venv of the same packages a matter of seconds.
set -euo pipefail
name=$1 venv=$2
root=$(cd "$(dirname "$0")/.." && pwd)
uv=${UV:-$root/.venv/uv/bin/uv}
python=$(command -v "${PYTHON:-python3}")
# No byte code compiled at install (uv's default; pip compiles everything): Python compiles what is imported,
# once. Warnings of that compilation in installed packages are not errors in the tests (pyproject.toml).
export UV_PYTHON_DOWNLOADS=never UV_NATIVE_TLS=1 UV_NO_PROGRESS=1

start=$SECONDS
echo ">> venv $name ($venv)" >&2
rm -rf "$venv"
"$uv" venv --quiet --python "$python" "$venv"
install() { "$uv" pip install --quiet --python "$venv/bin/python" "$@"; }
locked() { install --require-hashes --no-deps "$@"; } # complete, hash-locked sets
editable() { install --no-deps --no-build-isolation "${@/#/--editable=}"; }

# setuptools and wheel first: Chainer and the toolkit build from sdists with them (--no-build-isolation).
locked -r "$root/containers/build-requirements.txt"
case $name in
  pipelines)
    locked -r "$root/pipelines/requirements.txt"
    editable "$root/pipelines" ;;
  toolkit) # AWS's toolkit next to sm_contract
    locked --no-build-isolation -r "$root/tests/toolkit/requirements.txt"
    editable "$root/containers/sm_contract" ;;
  bench-tools)
    locked -r "$root/bench/tools-requirements.txt" ;;
  *) # the image's own lock (as its Dockerfile installs it) and the test tooling
    locked --no-build-isolation -r "$root/containers/$name/requirements.txt" -r "$root/requirements-dev.txt"
    editable "$root/containers/sm_contract" "$root/containers/$name" ;;
esac
echo ">> venv $name ready in $((SECONDS - start)) s" >&2
