"""`docker run IMAGE train` on a slice of the KNB corpus: outputs, failures, SIGTERM and resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utils import keras_model
from utils.checks import TRAINING_STOP_GRACE_S
from utils.data import set_hyperparameters, write_opt_ml

pytestmark = pytest.mark.container


def test_train_writes_the_tfs_layout_and_metric_lines(trained) -> None:
    """The session's test model (conftest): `train` wrote the TF Serving layout at its model-version."""
    root, logs = trained.root, trained.logs
    lines = re.findall(r"epoch=(\d+) train_loss=([0-9.e-]+) .*val_accuracy=([0-9.]+)", logs)
    assert [int(epoch) for epoch, _, _ in lines] == list(range(1, int(keras_model.HYPERPARAMETERS["epochs"]) + 1))
    assert (root / "model/3/saved_model.pb").is_file() and not (root / "model/1").exists()
    code_files = {p.name for p in (root / "model/code").iterdir()}
    assert code_files >= {"inference.py", "text_pipeline.py", "tokenizer.json", "words.tsv", "labels.json", "NOTICE"}
    assert "sudachi: " in logs and "% known" in logs
    out = {p.name for p in (root / "output/data").iterdir()}
    assert {"history.csv", "metrics.json", "test_metrics.json", "training_curves.png", "confusion_matrix.png"} <= out
    assert not (root / "output/failure").exists()


def test_image_carries_the_chive_table_and_not_the_rest_of_ja_ginza(keras_text_image, container_factory) -> None:
    script = (
        "import importlib.util, json, pathlib; "
        "t = pathlib.Path('/opt/keras-text/chive'); "
        "print(json.dumps({'files': sorted(p.name for p in t.iterdir()), "
        "'source': json.loads((t / 'source.json').read_text()), "
        "'modules': [m for m in ('spacy', 'ginza', 'ja_ginza', 'thinc') if importlib.util.find_spec(m)]}))"
    )
    container = container_factory(keras_text_image)
    container.run(["python", "-c", script])
    assert container.wait(timeout_s=60) == 0, container.logs()
    found = json.loads(container.logs().strip().splitlines()[-1])
    assert found["files"] == ["LICENSE-Apache-2.0.txt", "NOTICE", "source.json", "vectors.npy", "words.tsv"]
    assert found["source"]["wheel"] == "ja_ginza-5.3.0-py3-none-any.whl" and found["source"]["rows"] == 20_000
    assert found["modules"] == []


def test_bad_csv_writes_failure_and_exits_1(keras_text_image, container_factory, tmp_path: Path) -> None:
    channels = {"train": {**keras_model.channels()["train"], "labels.csv": "label\n京都\n".encode()}}
    root = write_opt_ml(tmp_path / "opt_ml", keras_model.HYPERPARAMETERS, channels)
    container = container_factory(keras_text_image)
    container.run("train", opt_ml=root)
    assert container.wait(timeout_s=300) == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith(f"channel 'train': features.csv has {keras_model.TRAIN_ROWS} rows but labels.csv has 1")
    assert "Traceback" not in container.logs()


def test_sigterm_checkpoints_before_the_kill_and_resume_continues(
    keras_text_image, container_factory, tmp_path: Path
) -> None:
    hps = {**keras_model.HYPERPARAMETERS, "epochs": "40", "batch-size": "8"}
    root = write_opt_ml(tmp_path / "opt_ml", hps, keras_model.channels())
    first = container_factory(keras_text_image)
    first.run("train", opt_ml=root)
    first.wait_for_log("epoch=1 ", timeout_s=300)
    # What StopTrainingJob and spot interruptions do: SIGTERM, SIGKILL after SageMaker's grace period. 143 is
    # a stop by the job's own handler; the kill would show as 137.
    first.container.stop(timeout=TRAINING_STOP_GRACE_S)
    assert first.wait() == 143, first.logs()
    state = json.loads((root / "checkpoints/manifest.json").read_text())
    assert state["epoch"] >= 2
    assert set(state["files"]) == {"weights.npz", "tokenizer.model", "embeddings.npy"}
    assert all((root / "checkpoints" / entry["file"]).is_file() for entry in state["files"].values())
    assert "Training stopped by signal" in (root / "output/failure").read_text()
    assert not (root / "model/1").exists()

    done = [row["epoch"] for row in state["state"]["history"]]
    set_hyperparameters(root, {**hps, "epochs": str(state["epoch"])})
    (root / "output/failure").unlink()
    second = container_factory(keras_text_image)
    second.run("train", opt_ml=root)
    assert second.wait(timeout_s=600) == 0, second.logs()
    assert f"resumed from checkpoint: epoch {state['epoch']}" in second.logs()
    assert "tokenizer and embeddings restored" in second.logs()
    history = json.loads((root / "output/data/history.json").read_text())
    assert [row["epoch"] for row in history][: len(done)] == done
    assert history[-1]["epoch"] == state["epoch"]
    assert (root / "model/1/saved_model.pb").is_file()
