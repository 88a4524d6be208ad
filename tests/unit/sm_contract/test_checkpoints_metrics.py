from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_checkpoint_roundtrip_with_manifest_written_last(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt", config={"units": 10})
    assert store.load() is None
    _save(store, b"weights", 3, history=[1, 2])
    checkpoint = CheckpointStore(tmp_path / "ckpt", config={"units": 10}).load()
    assert checkpoint is not None
    assert (checkpoint.epoch, checkpoint.step, checkpoint.state) == (3, 2, {"history": [1, 2]})
    assert checkpoint.path("weights.bin").read_bytes() == b"weights"
    manifest = _manifest(tmp_path / "ckpt")
    entry = manifest["files"]["weights.bin"]
    assert entry == {
        "file": "g000001-epoch0003-step000002.weights.bin",
        "bytes": 7,
        "sha256": hashlib.sha256(b"weights").hexdigest(),
    }
    assert sorted(p.name for p in store.directory.iterdir()) == [
        "g000001-epoch0003-step000002.extra.txt",
        "g000001-epoch0003-step000002.weights.bin",
        "manifest.json",
    ]


def test_each_save_is_a_generation_and_the_previous_one_stays(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for epoch in (1, 2, 3):
        _save(store, f"epoch {epoch}".encode(), epoch)
    manifest = _manifest(tmp_path)
    assert (manifest["epoch"], manifest["previous"]["epoch"]) == (3, 2)
    assert "previous" not in manifest["previous"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "g000002-epoch0002-step000002.extra.txt",
        "g000002-epoch0002-step000002.weights.bin",
        "g000003-epoch0003-step000002.extra.txt",
        "g000003-epoch0003-step000002.weights.bin",
        "manifest.json",
    ]


def test_the_same_epoch_saved_twice_never_overwrites_the_current_files(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, b"end of epoch 2", 3)
    _save(store, b"stopped in epoch 3", 3)
    manifest = _manifest(tmp_path)
    assert manifest["files"]["weights.bin"]["file"] != manifest["previous"]["files"]["weights.bin"]["file"]


def test_a_file_from_another_save_falls_back_to_the_previous_generation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, b"epoch 2 weights", 2)
    _save(store, b"epoch 3 weights", 3)
    newest = tmp_path / _manifest(tmp_path)["files"]["weights.bin"]["file"]
    newest.write_bytes(b"epoch 2 weights")  # what an S3 restore of half-uploaded saves can leave behind
    checkpoint = CheckpointStore(tmp_path).load()
    assert checkpoint is not None and checkpoint.epoch == 2
    assert checkpoint.path("weights.bin").read_bytes() == b"epoch 2 weights"
    assert re.search(
        r"skipping the checkpoint of epoch 3 step 2: \S+weights\.bin does not match manifest\.json", caplog.text
    )


def test_no_generation_that_checks_out_starts_fresh_saying_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CheckpointStore(tmp_path)
    _save(store, b"0123456789", 1)
    (tmp_path / _manifest(tmp_path)["files"]["extra.txt"]["file"]).unlink()  # not uploaded yet
    assert CheckpointStore(tmp_path).load() is None
    assert re.search(r"extra\.txt listed in manifest\.json is missing", caplog.text)
    assert "no checkpoint in" in caplog.text and "(skipped epoch 1 step 2): starting fresh" in caplog.text


def test_files_without_a_manifest_start_fresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "g000001-epoch0001-step000000.weights.bin").write_bytes(b"half of a first save")
    assert CheckpointStore(tmp_path).load() is None
    assert "no manifest.json" in caplog.text


@pytest.mark.parametrize("name", ["../outside.bin", "sub/weights.bin", "..", ".hidden", "manifest.json", ""])
def test_names_that_are_paths_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str) -> None:
    store = CheckpointStore(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="checkpoint file name"):
        store.save({name: lambda p: p.write_bytes(b"x")}, {}, epoch=1)
    _save(store, b"w", 1)
    manifest = _manifest(tmp_path / "ckpt")
    manifest["files"] = {"weights.bin": {**manifest["files"]["weights.bin"], "file": name}}
    (tmp_path / "ckpt/manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "outside.bin").write_bytes(b"w")
    assert CheckpointStore(tmp_path / "ckpt").load() is None
    assert "checkpoint file name" in caplog.text


def test_a_checkpoint_of_the_earlier_format_still_loads_and_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w")
    entry = {"epoch": 4, "step": 0, "bytes": 1, "sha256": hashlib.sha256(b"w").hexdigest()}
    old = {"format": 1, "epoch": 4, "step": 0, "config": {}, "state": {"n": 1}, "files": {"weights.bin": entry}}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    store = CheckpointStore(tmp_path)
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.path("weights.bin") == tmp_path / "weights.bin"
    _save(store, b"5", 5)
    assert (tmp_path / "weights.bin").exists()  # still the previous generation
    _save(store, b"6", 6)
    assert not (tmp_path / "weights.bin").exists()


def test_an_unreadable_manifest_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"manifest\.json is unreadable"):
        CheckpointStore(tmp_path).load()


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path: Path) -> None:
    _save(CheckpointStore(tmp_path, config={"units": 10, "labels": ["a", "b"]}), b"w", 1)
    assert CheckpointStore(tmp_path, config={"units": 10, "labels": ["a", "b"]}).load() is not None
    with pytest.raises(ConfigurationError, match=r"units: checkpoint 10 vs job 20"):
        CheckpointStore(tmp_path, config={"units": 20, "labels": ["a", "b"]}).load()


# A run that saves three files per epoch, resumes from its checkpoint, and ends writing its final arrays.
_TOY_RUN = """
import json, sys
from pathlib import Path
import numpy as np
from sm_contract.checkpoints import CheckpointStore
from utils.kill_during_save import arm

folder, epochs, at, when = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if at:
    arm(folder, at, when)
store = CheckpointStore(folder, config={"seed": 7})
found = store.load()
a, b, epoch = np.zeros(5000), np.zeros(10), 1
if found is not None:
    a, b, epoch = np.load(found.path("a.npy")), np.load(found.path("b.npy")), found.epoch
    assert json.loads(found.path("meta.json").read_text()) == {"epoch": epoch}
    print("resumed at epoch", epoch)
while epoch <= epochs:
    rng = np.random.RandomState([7, epoch])
    a, b, epoch = a * 0.5 + rng.rand(5000), b + a[:10], epoch + 1
    files = {"a.npy": lambda p: np.save(p, a), "b.npy": lambda p: np.save(p, b),
             "meta.json": lambda p: p.write_text(json.dumps({"epoch": epoch}))}
    store.save(files, {}, epoch=epoch)
np.savez(folder.parent / "final.npz", a=a, b=b)
"""
_RENAMES_PER_SAVE = 4  # three files, then the manifest


def _toy(folder: Path, epochs: int = 4, at: int = 0, when: str = "") -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", _TOY_RUN, str(folder), str(epochs), str(at), when]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("straight")
    assert _toy(folder / "ckpt").returncode == 0
    return folder / "final.npz"


@pytest.mark.parametrize(
    ("nth", "when", "resumed_at"),
    [(1, "before", 3), (2, "before", 3), (3, "before", 3), (4, "before", 3), (4, "after", 4)],
    ids=["before-the-files", "between-files", "before-the-last-file", "after-the-files", "after-the-manifest"],
)
def test_kill_9_at_each_step_of_a_save_resumes_consistently(
    straight_run: Path, tmp_path: Path, nth: int, when: str, resumed_at: int
) -> None:
    killed = _toy(tmp_path / "killed" / "ckpt", at=2 * _RENAMES_PER_SAVE + nth, when=when)  # in the third save
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _toy(tmp_path / "killed" / "ckpt")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at epoch {resumed_at}" in resumed.stdout
    with np.load(straight_run) as straight, np.load(tmp_path / "killed/final.npz") as after:
        for name in ("a", "b"):
            np.testing.assert_array_equal(straight[name], after[name], err_msg=name)
    left = sorted(p.name for p in (tmp_path / "killed/ckpt").iterdir())
    assert len(left) == 7 and left[-1] == "manifest.json", left  # two generations of three files: no leftovers


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


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_permissions_of_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "model.json", {"units": 10})  # what ends up in model.tar.gz
    finally:
        os.umask(previous)
    assert (tmp_path / "model.json").stat().st_mode & 0o777 == mode
