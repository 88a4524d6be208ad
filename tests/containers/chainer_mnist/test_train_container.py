"""`docker run IMAGE train` against a hand-written /opt/ml on a small real MNIST subset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utils.checks import TRAINING_STOP_GRACE_S
from utils.data import mnist_subset_bytes, set_hyperparameters

pytestmark = pytest.mark.container


@pytest.fixture
def channels(mnist_dir: Path) -> dict[str, dict[str, bytes]]:
    return {
        "train": {"train.npz": mnist_subset_bytes(mnist_dir, "train", 3000)},
        "valid": {"valid.npz": mnist_subset_bytes(mnist_dir, "valid", 500)},
    }


def test_train_writes_model_and_metric_lines(chainer_mnist_image, container_factory, fake_opt_ml, channels) -> None:
    root = fake_opt_ml({"epochs": "2", "units": "100"}, channels)
    container = container_factory(chainer_mnist_image)
    container.run("train", opt_ml=root)
    assert container.wait() == 0, container.logs()
    logs = container.logs()
    lines = re.findall(r"epoch=(\d+) train_loss=([0-9.e-]+) .*val_accuracy=([0-9.]+)", logs)
    assert [int(epoch) for epoch, _, _ in lines] == [1, 2]
    assert float(lines[-1][2]) > 0.8
    assert (root / "model/model.npz").stat().st_size > 0
    assert json.loads((root / "model/model.json").read_text())["units"] == 100
    assert {"metrics.json", "training_curves.png", "results.json"} <= {p.name for p in (root / "output/data").iterdir()}
    assert not (root / "output/failure").exists()


def test_default_command_is_train(chainer_mnist_image, container_factory, fake_opt_ml, channels) -> None:
    root = fake_opt_ml({"epochs": "1", "units": "16"}, channels)
    container = container_factory(chainer_mnist_image)
    container.run(None, opt_ml=root)  # SDK v3 ModelTrainer local mode passes no argument
    assert container.wait() == 0, container.logs()
    assert (root / "model/model.npz").exists()


def test_bad_npz_writes_failure_and_exits_non_zero(
    chainer_mnist_image, container_factory, fake_opt_ml, channels
) -> None:
    channels["valid"] = {"valid.npz": b"PK\x03\x04 truncated"}
    root = fake_opt_ml({"epochs": "1"}, channels)
    container = container_factory(chainer_mnist_image)
    container.run("train", opt_ml=root)
    assert container.wait() == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith("channel 'valid' file 'valid.npz' is not a readable .npz archive")
    assert failure.count("\n") == 1
    assert "Traceback" not in container.logs()


def test_unknown_hyperparameter_fails_clearly(chainer_mnist_image, container_factory, fake_opt_ml, channels) -> None:
    root = fake_opt_ml({"epochz": "1"}, channels)
    container = container_factory(chainer_mnist_image)
    container.run("train", opt_ml=root)
    assert container.wait() == 1
    assert (root / "output/failure").read_text().startswith("unknown hyperparameter(s) 'epochz'")


def test_sigterm_checkpoints_before_the_kill_and_resume_continues(
    chainer_mnist_image, container_factory, fake_opt_ml, channels
) -> None:
    root = fake_opt_ml({"epochs": "40", "units": "200", "batch-size": "20"}, channels)
    first = container_factory(chainer_mnist_image)
    first.run("train", opt_ml=root)
    first.wait_for_log("epoch=1 ", timeout_s=120)
    # What StopTrainingJob and spot interruptions do: SIGTERM, SIGKILL after SageMaker's grace period. 143 is
    # a stop by the job's own handler; the kill would show as 137.
    first.container.stop(timeout=TRAINING_STOP_GRACE_S)
    assert first.wait() == 143, first.logs()
    state = json.loads((root / "checkpoints/manifest.json").read_text())
    assert state["epoch"] >= 2  # "epoch=1" is logged after epoch 1: the stop lands in epoch 2 or later
    assert (root / "checkpoints" / state["files"]["checkpoint.npz"]["file"]).stat().st_size > 0
    assert "Training stopped by signal" in (root / "output/failure").read_text()
    assert not (root / "model/model.npz").exists()

    done = [row["epoch"] for row in state["state"]["history"]]
    set_hyperparameters(root, {"epochs": str(state["epoch"] + 1), "units": "200", "batch-size": "20"})
    (root / "output/failure").unlink()
    second = container_factory(chainer_mnist_image)
    second.run("train", opt_ml=root)
    assert second.wait() == 0, second.logs()
    assert f"resumed from checkpoint: epoch {state['epoch']}, step {state['step']}" in second.logs()
    history = json.loads((root / "output/data/metrics.json").read_text())
    assert [row["epoch"] for row in history] == [*done, *range(len(done) + 1, state["epoch"] + 2)]
    assert (root / "model/model.npz").exists()
