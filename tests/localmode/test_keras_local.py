"""keras-text through SageMaker local mode: train on a slice of KNB, serve, answer Japanese, batch-transform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils.data import write_knbc_slice

pytestmark = pytest.mark.container
LABELS = {"グルメ", "携帯電話", "京都", "スポーツ"}


def test_train_endpoint_and_transform(
    local_mode: LocalMode, runner: LocalModeRunner, keras_text_image: str, tmp_path: Path
) -> None:
    write_knbc_slice(tmp_path / "data" / "train", "train", 1500)
    runner.call(
        "CreateTrainingJob",
        sm.training_job(
            "knbc-train",
            keras_text_image,
            {"train": f"file://{tmp_path}/data/train"},
            f"file://{tmp_path}/output",
            {"epochs": 3, "hidden": 16, "embedding-dim": 32, "vocab-size": 2000},
        ),
    )
    job = runner.call("DescribeTrainingJob", {"TrainingJobName": "knbc-train"})
    assert job["TrainingJobStatus"] == "Completed", job
    runner.call("CreateModel", sm.model("knbc-model", keras_text_image, job["ModelArtifacts"]["S3ModelArtifacts"]))
    runner.call("CreateEndpointConfig", sm.endpoint_config("knbc-config", "knbc-model"))
    runner.call("CreateEndpoint", {"EndpointName": "knbc-endpoint", "EndpointConfigName": "knbc-config"})
    assert local_mode.wait_for_endpoint("knbc-endpoint")["EndpointStatus"] == "InService"

    response = local_mode.sagemaker_runtime_client.invoke_endpoint(
        EndpointName="knbc-endpoint",
        Body=json.dumps({"q": "電波が悪い"}).encode(),
        ContentType="application/json",
        Accept="application/json",
    )
    ranked = json.loads(response["Body"].read())
    assert {item["label"] for item in ranked} == LABELS
    probabilities = [item["prob"] for item in ranked]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-3
    runner.call("DeleteEndpoint", {"EndpointName": "knbc-endpoint"})

    queries = ["電波が悪い", "ラーメンが美味しい", "金閣寺に行った"]
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
    answers = [json.loads(line) for line in lines if line.strip()]
    assert len(answers) == len(queries)
    assert all({item["label"] for item in answer} == LABELS for answer in answers)
