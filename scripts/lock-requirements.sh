#!/usr/bin/env bash
# Regenerate every hash-locked requirements.txt from its requirements.in (`make lock`).
#   scripts/lock-requirements.sh UV
# Two kinds of .in file:
#   complete sets (the images', the image templates' and the build tools'): every package with its exact version,
#     locked with --no-deps (images install them with --no-deps); the lock adds the SHA-256 of every file PyPI has
#     for that version;
#   top-level pins (the uv bootstrap, the test tooling, the tools venv, the toolkit oracle, the benches' tools):
#     resolved by uv into a complete set with hashes. The test tooling is resolved with the images' locks as constraints, so installing
#     it next to an image's lock moves nothing; the tools venv's input takes the test tooling's lock as one.
# Every venv installs its locks with --require-hashes. Locks are for Linux x86_64, CPython 3.11 (Debian bookworm).
set -euo pipefail
uv=${1:?usage: $0 PATH_TO_UV}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

compile() { # INPUT [uv pip compile flags...]
  local input=$1 output=${1%.in}.txt
  shift
  "$uv" pip compile --quiet --generate-hashes --native-tls --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" "$@" "$input" -o "$output"
  echo ">> $output"
}

for input in containers/build-requirements.in containers/*/requirements*.in templates/*/requirements*.in; do
  compile "$input" --no-deps
done
compile scripts/requirements-uv.in
constraints=()
for lock in containers/*/requirements.txt; do constraints+=(-c "$lock"); done
compile requirements-dev.in "${constraints[@]}"
compile pipelines/requirements.in   # -r ../requirements-dev.in, -c ../requirements-dev.txt
compile tests/toolkit/requirements.in
compile bench/tools-requirements.in
