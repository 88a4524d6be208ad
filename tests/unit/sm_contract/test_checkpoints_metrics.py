from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import pytest

from sm_contract.checkpoints import CheckpointStore
from sm_contract.errors import CheckpointError, ConfigurationError
from sm_contract.files import atomic_write, write_json
from sm_contract.metrics import MetricsHistory, format_metrics, metric_definitions
from sm_contract.plots import plot_curves


def _save(store: CheckpointStore, weights: bytes, epoch: int, **state: object) -> None:
    store.save(
        {"weights.bin": lambda p: p.write_bytes(weights), "extra.txt": lambda p: p.write_text("x")},
        state,
        epoch=epoch,
        step=2,
    )


def test_checkpoint_roundtrip_with_manifest_written_last(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt", config={"units": 10})
    assert store.load() is None
    _save(store, b"weights", 3, history=[1, 2])
    checkpoint = store.load()
    assert checkpoint is not None
    assert (checkpoint.epoch, checkpoint.step, checkpoint.state) == (3, 2, {"history": [1, 2]})
    assert checkpoint.path("weights.bin").read_bytes() == b"weights"
    manifest = json.loads((tmp_path / "ckpt/manifest.json").read_text())
    assert manifest["files"]["weights.bin"]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert manifest["files"]["weights.bin"]["epoch"] == 3
    assert sorted(p.name for p in store.directory.iterdir()) == ["extra.txt", "manifest.json", "weights.bin"]


def test_files_without_a_manifest_start_fresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "weights.bin").write_bytes(b"half of a first save")
    assert CheckpointStore(tmp_path).load() is None
    assert "no manifest.json" in caplog.text


def test_a_file_from_another_save_fails_naming_it(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, b"epoch 3 weights", 3)
    (tmp_path / "weights.bin").write_bytes(b"epoch 2 weights")  # what an S3 restore can leave behind
    with pytest.raises(CheckpointError, match=r"weights\.bin does not match manifest\.json \(epoch 3, step 2\)"):
        store.load()


def test_a_truncated_or_missing_file_fails_naming_it(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, b"0123456789", 1)
    (tmp_path / "weights.bin").write_bytes(b"01234")
    with pytest.raises(CheckpointError, match=r"weights\.bin does not match"):
        store.load()
    (tmp_path / "weights.bin").write_bytes(b"0123456789")
    (tmp_path / "extra.txt").unlink()
    with pytest.raises(CheckpointError, match=r"extra\.txt listed in manifest\.json is missing"):
        CheckpointStore(tmp_path).load()


def test_an_unreadable_manifest_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"manifest\.json is unreadable"):
        CheckpointStore(tmp_path).load()


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path: Path) -> None:
    _save(CheckpointStore(tmp_path, config={"units": 10, "labels": ["a", "b"]}), b"w", 1)
    assert CheckpointStore(tmp_path, config={"units": 10, "labels": ["a", "b"]}).load() is not None
    with pytest.raises(ConfigurationError, match=r"units: checkpoint 10 vs job 20"):
        CheckpointStore(tmp_path, config={"units": 20, "labels": ["a", "b"]}).load()


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_text("old")

    def broken(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_write_json_keeps_japanese_readable(tmp_path: Path) -> None:
    write_json(tmp_path / "m.json", {"label": "京都"})
    assert "京都" in (tmp_path / "m.json").read_text(encoding="utf-8")


def test_metric_line_matches_its_definition(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    line = format_metrics(3, {"train_loss": 0.123456789, "val_accuracy": 0.97})
    assert line == "epoch=3 train_loss=0.123457 val_accuracy=0.97"
    for definition in metric_definitions(["train_loss", "val_accuracy"]):
        match = re.search(definition["Regex"], line)
        assert match, definition
    assert re.search(metric_definitions(["val_accuracy"])[0]["Regex"], line).group(1) == "0.97"

    caplog.set_level(logging.INFO)
    history = MetricsHistory(tmp_path / "metrics.json")
    history.log(1, {"loss": 1.0})
    history.log(2, {"loss": 0.5}, seconds=1.5)
    assert json.loads((tmp_path / "metrics.json").read_text()) == [
        {"epoch": 1, "loss": 1.0},
        {"epoch": 2, "loss": 0.5, "seconds": 1.5},
    ]
    assert "epoch=2 loss=0.5" in caplog.text
    png = plot_curves(history.rows, tmp_path / "curves.png", [("loss", ["loss"])])
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves([], tmp_path / "none.png", [("loss", ["loss"])]) is None
