"""The training job in process on a small real MNIST subset (no Docker)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainer_mnist.training.hyperparameters import Hyperparameters
from chainer_mnist.training.job import train
from sm_contract import hyperparameters
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, TrainingInterrupted
from sm_contract.training import StopSignal, run_training
from utils.checks import StopAfter
from utils.data import mnist_subset_bytes, set_hyperparameters, write_opt_ml

SMALL = {"units": 64, "batch-size": 50}


@pytest.fixture
def channels(mnist_dir: Path) -> dict[str, dict[str, bytes]]:
    return {
        "train": {"train.npz": mnist_subset_bytes(mnist_dir, "train", 1000)},
        "valid": {"valid.npz": mnist_subset_bytes(mnist_dir, "valid", 300)},
        "test": {"test.npz": mnist_subset_bytes(mnist_dir, "test", 200)},
    }


def _env(root: Path) -> TrainingEnv:
    return TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})


def _weights(root: Path) -> dict[str, np.ndarray]:
    with np.load(root / "model" / "model.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_defaults_are_the_tutorials() -> None:
    hp = hyperparameters.parse(Hyperparameters, {})
    assert (hp.model, hp.units, hp.optimizer, hp.batch_size, hp.epochs) == ("mlp", 1000, "adam", 100, 20)
    with pytest.raises(ConfigurationError, match="'batch-size' must be >= 1"):
        hyperparameters.parse(Hyperparameters, {"batch-size": "0"})


def test_training_writes_model_metrics_curves_and_checkpoint(
    fake_opt_ml, channels, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    root = fake_opt_ml({**SMALL, "epochs": "2"}, channels)
    assert run_training(train, {"SAGEMAKER_BASE_DIR": str(root)}) == 0
    description = json.loads((root / "model/model.json").read_text())
    assert description["model"] == "mlp" and description["units"] == 64
    assert description["metrics"]["test_accuracy"] > 0.6
    assert set(_weights(root)) == {
        "predictor/l1/W",
        "predictor/l1/b",
        "predictor/l2/W",
        "predictor/l2/b",
        "predictor/l3/W",
        "predictor/l3/b",
    }
    history = json.loads((root / "output/data/metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["val_accuracy"] > 0.6
    assert (root / "output/data/training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((root / "checkpoints/manifest.json").read_text())["epoch"] == 3
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch=")]
    assert lines[0].startswith("epoch=1 train_loss=") and "val_accuracy=" in lines[0]
    assert not (root / "output/failure").exists()


def test_interrupted_and_resumed_run_equals_a_straight_run(fake_opt_ml, channels, tmp_path: Path) -> None:
    hps = {**SMALL, "epochs": "2"}
    straight = fake_opt_ml(hps, channels, base=tmp_path / "straight")
    train(_env(straight), StopSignal())

    resumed = fake_opt_ml(hps, channels, base=tmp_path / "resumed")
    with pytest.raises(TrainingInterrupted, match="stopped at epoch 1 step 7/20"):
        train(_env(resumed), StopAfter(7))
    state = json.loads((resumed / "checkpoints/manifest.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 7)
    assert not (resumed / "model/model.npz").exists()
    train(_env(resumed), StopSignal())

    for name, array in _weights(straight).items():
        np.testing.assert_array_equal(array, _weights(resumed)[name], err_msg=name)
    history = json.loads((resumed / "output/data/metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]


def test_checkpoint_of_another_configuration_is_refused(fake_opt_ml, channels) -> None:
    root = fake_opt_ml({**SMALL, "epochs": "1"}, channels)
    train(_env(root), StopSignal())
    set_hyperparameters(root, {"units": "32", "epochs": "2"})
    with pytest.raises(ConfigurationError, match="units: checkpoint 64 vs job 32"):
        train(_env(root), StopSignal())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ch: ch.pop("valid"), "channel 'valid' is required but missing (channels present: test, train)"),
        (
            lambda ch: ch["train"].update({"train.npz": b"garbage"}),
            "channel 'train' file 'train.npz' is not a readable",
        ),
    ],
)
def test_bad_data_fails_with_a_one_line_reason(fake_opt_ml, channels, mutate, reason: str) -> None:
    mutate(channels)
    root = fake_opt_ml(SMALL, channels)
    assert run_training(train, {"SAGEMAKER_BASE_DIR": str(root)}) == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith(reason) and failure.count("\n") == 1


def test_cnn_trains(fake_opt_ml, mnist_dir: Path) -> None:
    """Two steps on 200 images: the CNN's second convolution alone is ten million multiply-adds an image."""
    channels = {c: {f"{c}.npz": mnist_subset_bytes(mnist_dir, c, 200)} for c in ("train", "valid", "test")}
    root = fake_opt_ml({"model": "cnn", "units": "32", "epochs": "1", "batch-size": "100"}, channels)
    train(_env(root), StopSignal())
    description = json.loads((root / "model/model.json").read_text())
    assert description["model"] == "cnn" and "test_accuracy" in description["metrics"]


# The image's training job in a child process that kills itself (-9) at one rename into /opt/ml/checkpoints.
_KILLABLE_JOB = """
import sys
from pathlib import Path
from chainer_mnist.training.job import train
from sm_contract.training import run_training
from utils.kill_during_save import arm

root, at, when = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if at:
    arm(root / "checkpoints", at, when)
sys.exit(run_training(train, {"SAGEMAKER_BASE_DIR": str(root)}))
"""


def _job(root: Path, at: int = 0, when: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", _KILLABLE_JOB, str(root), str(at), when]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def straight_job(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three epochs without a kill: the weights every killed and resumed job must end with."""
    channels = {c: {f"{c}.npz": mnist_subset_bytes(mnist_dir, c, n)} for c, n in (("train", 1000), ("valid", 300))}
    root = write_opt_ml(tmp_path_factory.mktemp("straight"), {**SMALL, "epochs": "3"}, channels)
    assert _job(root).returncode == 0
    return root


@pytest.mark.parametrize(
    ("nth", "when", "resumed_at"),
    [(1, "before", 2), (2, "before", 2), (2, "after", 3)],
    ids=["before-the-file", "between-file-and-manifest", "after-the-manifest"],
)
def test_a_kill_9_during_a_checkpoint_save_resumes_to_the_same_weights(
    straight_job: Path, fake_opt_ml, channels, nth: int, when: str, resumed_at: int
) -> None:
    killed = fake_opt_ml({**SMALL, "epochs": "3"}, {k: v for k, v in channels.items() if k != "test"})
    first = _job(killed, at=2 + nth, when=when)  # a save writes checkpoint.npz, then the manifest: this is the 2nd
    assert first.returncode == -signal.SIGKILL, first.stdout[-2000:]
    second = _job(killed)
    assert second.returncode == 0, second.stdout[-2000:]
    assert f"resumed from checkpoint: epoch {resumed_at}, step 0/20" in second.stdout
    for name, array in _weights(straight_job).items():
        np.testing.assert_array_equal(array, _weights(killed)[name], err_msg=name)
    history = json.loads((killed / "output/data/metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
