"""The tutorial's script (examples/chainer-script) in SDK local mode: ChainerMN on two hosts, then its module served.

The code goes in as AWS takes it, a ``sourcedir.tar.gz`` named by ``sagemaker_submit_directory`` (raw, as a Step
Functions input sends it) and by the model's ``SAGEMAKER_SUBMIT_DIRECTORY``; the runner hands it to local mode.
Kept tiny for two CPU cores: 2,000 images, two epochs, 100 units.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball
from utils.data import REPO, mnist_subset_bytes

pytestmark = pytest.mark.container

EXAMPLE = REPO / "examples" / "chainer-script"


@pytest.fixture
def script(tmp_path: Path) -> Script:
    tarball = tmp_path / "code" / "sourcedir.tar.gz"
    tarball.parent.mkdir()
    tarball.write_bytes(sourcedir_tarball(EXAMPLE))
    return Script("chainer_mnist.py", f"file://{tarball}")


def _channels(tmp_path: Path, mnist_dir: Path) -> dict[str, str]:
    uris = {}
    for channel, source, n in (("train", "train", 2000), ("test", "valid", 300)):
        folder = tmp_path / "data" / channel
        folder.mkdir(parents=True)
        (folder / f"{channel}.npz").write_bytes(mnist_subset_bytes(mnist_dir, source, n))
        uris[channel] = f"file://{folder}"
    return uris


def test_script_on_two_hosts_then_endpoint_and_transform_through_its_module(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    chainer_mnist_image: str,
    script: Script,
    tmp_path: Path,
    mnist_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    request = sm.training_job(
        "script-2hosts",
        chainer_mnist_image,
        _channels(tmp_path, mnist_dir),
        f"file://{tmp_path}/output",
        {"epochs": "2", "units": "100", "batch-size": "50", **script.hyperparameters()},
        instance_count=2,
    )
    runner.call("CreateTrainingJob", request)
    job = runner.wait_for_training_job("script-2hosts")
    assert job["TrainingJobStatus"] == "Completed", job
    logs = capfd.readouterr().out
    assert re.search(r"2 process\(es\) on host algo-1; hosts \[\"algo-1\",\"algo-2\"\]", logs), logs
    assert "the master reports the job done" in logs  # the worker waited for the master, then ended cleanly
    artifact = Path(job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://"))
    with tarfile.open(artifact) as tar:
        assert {"model.npz", "net.json"} <= {Path(name).name for name in tar.getnames()}

    model_data = job["ModelArtifacts"]["S3ModelArtifacts"]
    environment = script.model_environment()  # SAGEMAKER_PROGRAM: serve the script's model_fn & co.
    runner.call("CreateModel", sm.model("script-model", chainer_mnist_image, model_data, environment=environment))
    runner.call("CreateEndpointConfig", sm.endpoint_config("script-config", "script-model"))
    runner.call("CreateEndpoint", {"EndpointName": "script-endpoint", "EndpointConfigName": "script-config"})
    assert local_mode.wait_for_endpoint("script-endpoint")["EndpointStatus"] == "InService"
    images = np.load(mnist_dir / "transform" / "test.npy")
    answer = local_mode.sagemaker_runtime_client.invoke_endpoint(
        EndpointName="script-endpoint",
        Body=json.dumps({"instances": images[:3].tolist()}),
        ContentType="application/json",
        Accept="application/json",
    )
    probabilities = np.array(json.loads(answer["Body"].read())["predictions"])  # the script's output_fn
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    runner.call("DeleteEndpoint", {"EndpointName": "script-endpoint"})

    # The tutorial's transform: test.npy whole (input_fn reads .npy), one label per line (output_fn, text/csv).
    (tmp_path / "transform").mkdir()
    (tmp_path / "transform" / "test.npy").write_bytes((mnist_dir / "transform" / "test.npy").read_bytes())
    runner.call(
        "CreateTransformJob",
        sm.transform_job(
            "script-transform",
            "script-model",
            f"file://{tmp_path}/transform",
            f"file://{tmp_path}/transform-out",
            content_type="application/x-npy",
            split_type="None",
        ),
    )
    predicted = np.array([int(x) for x in (tmp_path / "transform-out" / "test.npy.out").read_text().split()])
    labels = np.load(mnist_dir / "test_labels.npy")
    assert predicted.shape == labels.shape
    assert np.mean(predicted == labels) > 0.7  # 2,000 images, two short epochs
