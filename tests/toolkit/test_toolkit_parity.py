"""Our script environment against AWS's sagemaker-training toolkit 5.x, the oracle, on the same /opt/ml trees.

The toolkit computes its paths when it is imported, so it runs in a subprocess per tree. The one value that
differs on purpose is ``SM_NUM_CPUS`` (ours follows the container's CPU quota), so both sides get the same count.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sm_contract.environment import TrainingEnv
from sm_contract.script_mode import script_env
from utils.data import write_opt_ml

ODD_HYPERPARAMETERS = {
    "epochs": "3",
    "lr": "1e-3",
    "name": '"abc"',
    "raw": "hello world",
    "flag": "true",
    "Flag2": "True",
    "d": '{"b": "x", "a": 1}',
    "x": "[1, 2]",
    "n": "null",
    "batch-size": "32",
    "unicode": '"京都"',
    "empty": "",
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/prefix/sourcedir.tar.gz"',
    "sagemaker_region": '"eu-west-1"',
    "sagemaker_mpi_enabled": "true",
    "sagemaker_mpi_num_of_processes_per_host": "2",
    "sagemaker_container_log_level": "20",
}

TOOLKIT = """
import json, sys
from sagemaker_training import environment
env = environment.Environment()
print(json.dumps({"env": env.to_env_vars(), "args": env.to_cmd_args()}))
"""


def _toolkit(root: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    environ = {**os.environ, "SAGEMAKER_BASE_DIR": str(root), **extra_env}
    result = subprocess.run([sys.executable, "-c", TOOLKIT], env=environ, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


CASES = {
    "one host, two channels": (ODD_HYPERPARAMETERS, ("algo-1",), "algo-1", {}),
    "second of two hosts": (ODD_HYPERPARAMETERS, ("algo-1", "algo-2"), "algo-2", {"TRAINING_JOB_NAME": "job-1"}),
    "local mode names, no framework keys": (
        {"epochs": "1", "sagemaker_program": "chainer_mnist.py", "sagemaker_submit_directory": "/opt/ml/code"},
        ("algo-1-ab3cd", "algo-2-ab3cd"),
        "algo-1-ab3cd",
        {},
    ),
    "program from the environment": ({"units": "100"}, ("algo-1",), "algo-1", {"SAGEMAKER_PROGRAM": "train.py"}),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_environment_and_arguments_match_the_toolkit(tmp_path: Path, case: str) -> None:
    hyperparameters, hosts, current, extra = CASES[case]
    channels = {"train": {"a.npz": b"1"}, "valid": {"b.npz": b"2"}, "test-set": {"c.npz": b"3"}}
    root = write_opt_ml(tmp_path / "opt_ml", hyperparameters, channels, hosts=hosts, current_host=current)
    expected = _toolkit(root, extra)

    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root), **extra})
    training = script_env.training_env(env, num_cpus=multiprocessing.cpu_count(), num_gpus=0)
    ours = script_env.env_vars(training)

    assert script_env.cmd_args(training["hyperparameters"]) == expected["args"]
    assert sorted(ours) == sorted(expected["env"])
    differing = {k: (ours[k], expected["env"][k]) for k in ours if ours[k] != expected["env"][k]}
    assert differing == {}


def test_the_code_is_downloaded_from_s3_with_the_jobs_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sagemaker_submit_directory=s3://...``: boto3 with the job's credentials (moto stands in for S3)."""
    import io
    import tarfile

    import boto3
    from moto import mock_aws

    from sm_contract.script_mode import user_code

    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        body = b"print('hi')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="code", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="code", Key="run-1/sourcedir.tar.gz", Body=archive.getvalue())
        folder = user_code.fetch("s3://code/run-1/sourcedir.tar.gz", tmp_path / "code", dict(os.environ))
        assert (folder / "train.py").read_bytes() == b"print('hi')\n"
        with pytest.raises(Exception, match=r"cannot download the code s3://code/missing\.tar\.gz: 404"):
            user_code.fetch("s3://code/missing.tar.gz", tmp_path / "other", dict(os.environ))
