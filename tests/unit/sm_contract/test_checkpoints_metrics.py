from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from sm_contract.checkpoints import CheckpointStore, atomic_write
from sm_contract.metrics import MetricsHistory, format_metrics, metric_definitions
from sm_contract.plots import plot_curves


def test_checkpoint_roundtrip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt")
    assert store.load_state() is None
    store.save({"next_epoch": 3}, lambda p: p.write_bytes(b"weights"))
    assert store.load_state() == {"next_epoch": 3}
    assert store.payload.read_bytes() == b"weights"
    assert sorted(p.name for p in store.directory.iterdir()) == ["checkpoint.npz", "state.json"]


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


def test_state_without_payload_is_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.state_file.write_text(json.dumps({"next_epoch": 2}))
    assert store.load_state() is None


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
