#!/usr/bin/env bash
# Regenerate the hash-locked requirements.txt of each image (and of the build tools) from its requirements.in.
#   scripts/lock-requirements.sh UV
# The .in files hold every package with its exact version (a complete set: images install with --no-deps);
# the lock adds the SHA-256 of every file PyPI has for that version, for `pip install --require-hashes`.
# Locks are for Linux x86_64, CPython 3.11 (Debian bookworm's python3).
set -euo pipefail
uv=${1:?usage: $0 PATH_TO_UV}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for input in containers/build-requirements.in containers/*/requirements*.in; do
  output=${input%.in}.txt
  "$uv" pip compile --quiet --no-deps --generate-hashes --native-tls --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" "$input" -o "$output"
  echo ">> $output"
done
