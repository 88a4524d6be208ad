"""keras-text as a multi-model endpoint in local mode: three copies of the test model, each loaded on first use
from ``<prefix>/<TargetModel>`` with its own ``code/inference.py``, the least recently used unloaded under a small
budget and loaded again on demand, each answering the obvious sentence with its own labels."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from utils import keras_model
from utils.multi_model import archive_bytes, create_endpoint, loaded_targets, model_prefix, walk_least_recently_used

pytestmark = pytest.mark.container

SENTENCE = "電波が悪い"
COPIES = ("first", "second", "third")


def copies(artifact: str, root: Path) -> dict[str, Path]:
    """The trained model three times; the second and third copies' labels carry their names, so an answer tells
    which model served it (and that each copy's inference.py read its own code/ folder)."""
    extracted = root / "trained"
    with tarfile.open(artifact.removeprefix("file://")) as archive:
        archive.extractall(extracted, filter="data")
    folders = {}
    for index, name in enumerate(COPIES):
        folder = shutil.copytree(extracted, root / name)
        if index:
            labels_file = folder / "code" / "labels.json"
            meta = json.loads(labels_file.read_text(encoding="utf-8"))
            meta["labels"] = [f"{name}-{label}" for label in meta["labels"]]
            labels_file.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        folders[f"{name}/model.tar.gz"] = folder
    return folders


def test_multi_model_endpoint_of_keras_models(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    keras_text_image: str,
    keras_text_job: dict[str, Any],
    tmp_path: Path,
) -> None:
    artifact = keras_text_job["ModelArtifacts"]["S3ModelArtifacts"]
    prefix = model_prefix(copies(artifact, tmp_path / "models"), tmp_path / "prefix")
    budget = int(2.5 * archive_bytes(artifact))  # room for two models, not three
    create_endpoint(runner, keras_text_image, "texts", prefix, budget)
    assert local_mode.wait_for_endpoint("texts")["EndpointStatus"] == "InService"
    right = keras_model.OBVIOUS[SENTENCE]
    answers = {f"{name}/model.tar.gz": (f"{name}-" if index else "") + right for index, name in enumerate(COPIES)}

    def ask(target: str) -> str:
        answer = runner.call(
            "InvokeEndpoint",
            {
                "EndpointName": "texts",
                "TargetModel": target,
                "Body": json.dumps({"q": SENTENCE}),
                "ContentType": "application/json",
                "Accept": "application/json",
            },
        )
        ranked = json.loads(answer["Body"].read())
        assert len(ranked) == len(keras_model.LABELS), ranked
        label: str = ranked[0]["label"]
        return label

    walk_least_recently_used(ask, loaded_targets(local_mode, list(answers)), answers)
    metrics = local_mode.endpoints.metrics("texts")["AllTraffic"]
    assert metrics["ModelCacheHit"] == 1 and metrics["Invocations"] == 5
