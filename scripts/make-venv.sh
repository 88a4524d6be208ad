#!/usr/bin/env bash
# Create the host venv of one image from the same pinned requirements its Dockerfile installs, plus the
# test tooling; the shared library and the image's package are installed editable.
#   scripts/make-venv.sh IMAGE VENV_DIR
# `pipelines` instead of an image makes the tools venv (SageMaker SDK, boto3, moto) from pipelines/; `toolkit`
# the oracle venv of the script-mode parity tests (tests/toolkit); `bench-tools` py-spy, the benches' sampler.
set -euo pipefail
image=$1 venv=$2
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --require-hashes -r "$root/containers/build-requirements.txt"
if [[ $image == bench-tools ]]; then
  "${pip[@]}" py-spy==0.4.3
elif [[ $image == toolkit ]]; then  # the script-mode parity oracle: AWS's toolkit next to sm_contract
  "${pip[@]}" -r "$root/tests/toolkit/requirements.txt"
  "${pip[@]}" --no-build-isolation --no-deps -e "$root/containers/sm_contract"
elif [[ $image == pipelines ]]; then
  "${pip[@]}" -r "$root/pipelines/requirements.txt" -r "$root/requirements-dev.txt"
  "${pip[@]}" --no-build-isolation --no-deps -e "$root/pipelines"
else
  # The image's own hash-locked set (as its Dockerfile installs it), then the test tools.
  "${pip[@]}" --require-hashes --no-deps --no-build-isolation -r "$root/containers/$image/requirements.txt"
  "${pip[@]}" -r "$root/requirements-dev.txt"
  "${pip[@]}" --no-build-isolation --no-deps -e "$root/containers/sm_contract" -e "$root/containers/$image"
fi
echo ">> $venv ready" >&2
