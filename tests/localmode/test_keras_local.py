"""keras-text through SageMaker local mode: the test model trained on a slice of KNB, served on an endpoint and in a
batch transform, right on the obvious sentences in both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils import keras_model

pytestmark = pytest.mark.container


def test_train_endpoint_and_transform(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    keras_text_image: str,
    keras_text_job: dict[str, Any],
    tmp_path: Path,
) -> None:
    job = keras_text_job  # trained through local mode (conftest.py)
    assert job["TrainingJobStatus"] == "Completed", job
    runner.call("CreateModel", sm.model("knbc-model", keras_text_image, job["ModelArtifacts"]["S3ModelArtifacts"]))
    runner.call("CreateEndpointConfig", sm.endpoint_config("knbc-config", "knbc-model"))
    runner.call("CreateEndpoint", {"EndpointName": "knbc-endpoint", "EndpointConfigName": "knbc-config"})
    assert local_mode.wait_for_endpoint("knbc-endpoint")["EndpointStatus"] == "InService"

    answers = []
    for text in keras_model.OBVIOUS:
        response = local_mode.sagemaker_runtime_client.invoke_endpoint(
            EndpointName="knbc-endpoint",
            Body=json.dumps({"q": text}).encode(),
            ContentType="application/json",
            Accept="application/json",
        )
        answers.append(json.loads(response["Body"].read()))
    keras_model.assert_obvious_right(answers)
    runner.call("DeleteEndpoint", {"EndpointName": "knbc-endpoint"})

    queries = list(keras_model.OBVIOUS)
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "queries.jsonl").write_text("".join(json.dumps({"q": q}) + "\n" for q in queries))
    runner.call(
        "CreateTransformJob",
        sm.transform_job(
            "knbc-transform",
            "knbc-model",
            f"file://{tmp_path}/batch",
            f"file://{tmp_path}/batch-out",
            content_type="application/jsonlines",
            accept="application/jsonlines",
        ),
    )
    lines = (tmp_path / "batch-out" / "queries.jsonl.out").read_text(encoding="utf-8").split("\n")
    keras_model.assert_obvious_right([json.loads(line) for line in lines if line.strip()])
