"""chainer-mnist through LocalModeRunner (training jobs run by the project's runner, endpoints by the local
endpoints, models and transforms by SDK local mode) with the request dicts a real SageMaker call takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils.data import mnist_subset_bytes

pytestmark = pytest.mark.container


@pytest.fixture
def channels(tmp_path: Path, mnist_dir: Path) -> dict[str, str]:
    uris = {}
    for channel, n in (("train", 6000), ("valid", 1000)):
        folder = tmp_path / "data" / channel
        folder.mkdir(parents=True)
        (folder / f"{channel}.npz").write_bytes(mnist_subset_bytes(mnist_dir, channel, n))
        uris[channel] = f"file://{folder}"
    return uris


def test_train_model_endpoint_and_transform(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    chainer_mnist_image: str,
    channels: dict[str, str],
    tmp_path: Path,
    mnist_dir: Path,
) -> None:
    runner.call(
        "CreateTrainingJob",
        sm.training_job(
            "mnist-train",
            chainer_mnist_image,
            channels,
            f"file://{tmp_path}/output",
            {"epochs": 2, "units": 200},
            role_arn="arn:aws:iam::123456789012:role/sagemaker",
        ),
    )
    job = runner.wait_for_training_job("mnist-train")
    assert job["TrainingJobStatus"] == "Completed"
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]  # never built by hand: local and AWS paths differ
    assert artifact == f"file://{tmp_path}/output/mnist-train/output/model.tar.gz"  # laid out as on AWS

    runner.call("CreateModel", sm.model("mnist-model", chainer_mnist_image, artifact))
    runner.call("CreateEndpointConfig", sm.endpoint_config("mnist-config", "mnist-model"))
    runner.call("CreateEndpoint", {"EndpointName": "mnist-endpoint", "EndpointConfigName": "mnist-config"})
    assert local_mode.wait_for_endpoint("mnist-endpoint")["EndpointStatus"] == "InService"
    test_images = np.load(mnist_dir / "transform" / "test.npy")
    response = local_mode.sagemaker_runtime_client.invoke_endpoint(
        EndpointName="mnist-endpoint",
        Body=json.dumps({"instances": test_images[:5].tolist()}),
        ContentType="application/json",
        Accept="application/json",
    )
    predictions = json.loads(response["Body"].read())["predictions"]
    assert len(predictions) == 5 and all(0 <= p["label"] <= 9 for p in predictions)
    runner.call("DeleteEndpoint", {"EndpointName": "mnist-endpoint"})

    # The tutorial's transform: the whole test.npy in one request (SplitType None), one label per output line.
    transform_input = tmp_path / "transform"
    transform_input.mkdir()
    (transform_input / "test.npy").write_bytes((mnist_dir / "transform" / "test.npy").read_bytes())
    request = sm.transform_job(
        "mnist-transform",
        "mnist-model",
        f"file://{transform_input}",
        f"file://{tmp_path}/transform-out",
        content_type="application/x-npy",
        split_type="None",
    )
    assert runner.call("CreateTransformJob", request) == {
        "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/mnist-transform"
    }
    assert (
        local_mode.sagemaker_client.describe_transform_job(TransformJobName="mnist-transform")["TransformJobStatus"]
        == "Completed"
    )
    predicted = np.array([int(x) for x in (tmp_path / "transform-out" / "test.npy.out").read_text().split()])
    labels = np.load(mnist_dir / "test_labels.npy")
    assert predicted.shape == labels.shape
    assert np.mean(predicted == labels) > 0.85


def test_failed_training_job_is_failed_with_its_reason(
    runner: LocalModeRunner, chainer_mnist_image: str, channels: dict[str, str], tmp_path: Path
) -> None:
    request = sm.training_job("mnist-bad", chainer_mnist_image, channels, f"file://{tmp_path}/output", {"epochz": 1})
    runner.call("CreateTrainingJob", request)  # as on AWS, the create call itself succeeds
    job = runner.wait_for_training_job("mnist-bad")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("unknown hyperparameter(s) 'epochz'")
