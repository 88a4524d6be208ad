#!/usr/bin/env bash
# Extract the chiVe word vectors (the keras-text default model's embedding) on the host, as the image's
# `vectors` build stage does: download the pinned ja-ginza wheel (kept in build/wheels, so a second run
# downloads nothing) and read the table out of it with keras_text.text.vectors.
#   scripts/extract-chive.sh OUT_DIR [PYTHON]    (PYTHON: the keras-text venv's, default .venv/keras-text)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
python=${2:-$root/.venv/keras-text/bin/python}
image=$root/containers/keras-text
wheels=$root/build/wheels
version=$(sed -n "s/^ja-ginza==\([^ ]*\).*/\1/p" "$image/requirements-vectors.in")

"$python" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$wheels" \
  --require-hashes -r "$image/requirements-vectors.txt"
"$python" -m keras_text.text.vectors --wheel "$wheels/ja_ginza-$version-py3-none-any.whl" --out "$out" \
  --notice "$image/NOTICE" --notice "$image/LICENSE-Apache-2.0.txt"
