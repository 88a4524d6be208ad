"""The training job in process on a small real MNIST subset (no Docker)."""

from __future__ import annotations

import json
import logging
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
from utils.data import mnist_subset_bytes, set_hyperparameters

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


def test_cnn_trains(fake_opt_ml, channels) -> None:
    root = fake_opt_ml({"model": "cnn", "units": "32", "epochs": "1", "batch-size": "100"}, channels)
    train(_env(root), StopSignal())
    assert json.loads((root / "model/model.json").read_text())["model"] == "cnn"
