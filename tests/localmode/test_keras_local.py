"""keras-text through SageMaker local mode: train on a slice of KNB, serve, answer Japanese, batch-transform."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from byoc_pipelines import requests as sm
from byoc_pipelines.local import LocalMode

pytestmark = pytest.mark.container
KNBC = Path(__file__).resolve().parents[2] / "datasets" / "knbc"
LABELS = {"グルメ", "携帯電話", "京都", "スポーツ"}


def _slice(source: Path, target: Path, rows: int) -> None:
    target.mkdir(parents=True)
    for name in ("features.csv", "labels.csv"):
        with (source / name).open(encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))[: rows + 1]
        with (target / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(lines)


def test_train_endpoint_and_transform(local_mode: LocalMode, keras_text_image: str, tmp_path: Path) -> None:
    _slice(KNBC / "train", tmp_path / "data" / "train", 1500)
    local_mode.call(
        "CreateTrainingJob",
        sm.training_job(
            "knbc-train",
            keras_text_image,
            {"train": f"file://{tmp_path}/data/train"},
            f"file://{tmp_path}/output",
            {"epochs": 3, "hidden": 16, "embedding-dim": 32, "vocab-size": 2000},
        ),
    )
    job = local_mode.describe_training_job("knbc-train")
    assert job["TrainingJobStatus"] == "Completed", job
    local_mode.call("CreateModel", sm.model("knbc-model", keras_text_image, job["ModelArtifacts"]["S3ModelArtifacts"]))
    local_mode.call("CreateEndpointConfig", sm.endpoint_config("knbc-config", "knbc-model"))
    local_mode.call("CreateEndpoint", {"EndpointName": "knbc-endpoint", "EndpointConfigName": "knbc-config"})
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
    local_mode.sagemaker_client.delete_endpoint(EndpointName="knbc-endpoint")

    queries = ["電波が悪い", "ラーメンが美味しい", "金閣寺に行った"]
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "queries.jsonl").write_text("".join(json.dumps({"q": q}) + "\n" for q in queries))
    local_mode.call(
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
