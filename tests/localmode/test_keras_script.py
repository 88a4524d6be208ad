"""The article's script (examples/keras-script) in SageMaker SDK local mode on one and two hosts; the model.tar.gz
it makes served through its own code/inference.py on a local endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils import keras_model
from utils.data import REPO, write_knbc_slice

pytestmark = pytest.mark.container
EXAMPLE = REPO / "examples" / "keras-script"


def _train(runner: LocalModeRunner, image: str, tmp_path: Path, name: str, hosts: int) -> dict:
    hyperparameters = {
        # JSON-encoded, as the SageMaker SDK sends them; local mode mounts the folder at /opt/ml/code
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"file://{EXAMPLE}"),
        "epochs": "1",
    }
    if hosts > 1:
        hyperparameters["sagemaker_multi_worker_mirrored_strategy_enabled"] = "true"
    request = sm.training_job(
        name,
        image,
        {"train": f"file://{tmp_path}/data/train"},
        f"file://{tmp_path}/{name}",
        hyperparameters,
        instance_count=hosts,
    )
    runner.call("CreateTrainingJob", request)
    job = runner.wait_for_training_job(name)
    assert job["TrainingJobStatus"] == "Completed", job
    return job


def test_the_script_on_two_hosts_then_its_model_on_an_endpoint(
    local_mode: LocalMode, runner: LocalModeRunner, keras_text_image: str, tmp_path: Path
) -> None:
    write_knbc_slice(tmp_path / "data" / "train", "train", 400)
    job = _train(runner, keras_text_image, tmp_path, "article-2", hosts=2)
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    runner.call("CreateModel", sm.model("article-model", keras_text_image, artifact))
    runner.call("CreateEndpointConfig", sm.endpoint_config("article-config", "article-model"))
    runner.call("CreateEndpoint", {"EndpointName": "article-endpoint", "EndpointConfigName": "article-config"})
    assert local_mode.wait_for_endpoint("article-endpoint", timeout_s=300)["EndpointStatus"] == "InService"
    response = local_mode.sagemaker_runtime_client.invoke_endpoint(
        EndpointName="article-endpoint", Body=json.dumps({"q": "電波が悪い"}).encode(), ContentType="application/json"
    )
    keras_model.assert_ranked(json.loads(response["Body"].read()))  # the script's own model: its shape only
    runner.call("DeleteEndpoint", {"EndpointName": "article-endpoint"})


def test_the_script_on_one_host(runner: LocalModeRunner, keras_text_image: str, tmp_path: Path) -> None:
    write_knbc_slice(tmp_path / "data" / "train", "train", 400)
    job = _train(runner, keras_text_image, tmp_path, "article-1", hosts=1)
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")
