"""Training: hyperparameters, the epoch loop with per-epoch checkpoints and exact resume, and the outputs."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import chainer
import chainer.functions as F
import numpy as np
from chainer import serializers

from chainer_mnist import model as model_lib
from chainer_mnist.data import Split, load_split
from chainer_mnist.optim import make_optimizer
from sm_contract import channels, hyperparameters
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, DataError, TrainingInterrupted
from sm_contract.files import atomic_write, write_json
from sm_contract.metrics import MetricsHistory, format_metrics
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

EVAL_BATCH = 2000
CURVE_PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_accuracy", "val_accuracy")))
# Hyperparameters that must match for a checkpoint to be resumed.
RESUME_KEYS = ("model", "units", "optimizer", "batch-size", "seed")
CHECKPOINT_FILE = "checkpoint.npz"


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 20
    batch_size: int = 100
    learning_rate: float = 0.01  # momentum SGD's step size
    optimizer: Literal["sgd", "adam"] = "adam"
    alpha: float = 0.001  # Adam's step size (Chainer's name)
    model: Literal["mlp", "cnn"] = "mlp"
    units: int = 1000
    seed: int = 0

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "units"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be >= 1")
        for name in ("learning_rate", "alpha"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be > 0")


def find_npz(env: TrainingEnv, channel: str, required: bool = True) -> Path | None:
    """``<channel>.npz`` in the channel, or its only ``.npz`` file when named otherwise."""
    folder = channels.channel_dir(env, channel, required=required)
    if folder is None:
        return None
    preferred = folder / f"{channel}.npz"
    if preferred.is_file():
        return preferred
    candidates = sorted(folder.glob("*.npz"))
    if len(candidates) == 1:
        return candidates[0]
    return channels.channel_file(env, channel, f"{channel}.npz")


def evaluate(classifier: chainer.Chain, split: Split, batch: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean loss and accuracy in inference mode, in large batches without building a graph."""
    loss_sum = acc_sum = 0.0
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        for start in range(0, len(split), batch):
            x, t = split.images[start : start + batch], split.labels[start : start + batch]
            y = classifier.predictor(x)
            loss_sum += float(F.softmax_cross_entropy(y, t).array) * len(t)
            acc_sum += float(F.accuracy(y, t).array) * len(t)
    return loss_sum / len(split), acc_sum / len(split)


class Trainer:
    """One training run: owns the model, the optimizer, the checkpoint store and the metrics history."""

    def __init__(self, env: TrainingEnv, hp: Hyperparameters, train: Split, valid: Split) -> None:
        self.env, self.hp, self.train, self.valid = env, hp, train, valid
        np.random.seed(hp.seed)  # Chainer's initializers and dropout draw from NumPy's global RNG
        self.spec = model_lib.ModelSpec(model=hp.model, units=hp.units)
        self.classifier = model_lib.build(self.spec)
        self.optimizer = make_optimizer(hp.optimizer, hp.learning_rate, hp.alpha)
        self.optimizer.setup(self.classifier)
        self.store = CheckpointStore(env.paths.checkpoints_dir, config=self._resume_fields())
        self.history = MetricsHistory(output_file(env.paths, "metrics.json"))
        self.steps_per_epoch = math.ceil(len(train) / hp.batch_size)
        self.epoch, self.step = 1, 0  # next epoch to run and step within it
        self.partial = {"loss_sum": 0.0, "acc_sum": 0.0, "count": 0}

    # -- checkpoints -------------------------------------------------------------------------------------
    def _resume_fields(self) -> dict[str, Any]:
        return {k: v for k, v in hyperparameters.as_dict(self.hp).items() if k in RESUME_KEYS}

    def save_checkpoint(self) -> None:
        def write(path: Path) -> None:
            serializer = serializers.DictionarySerializer()
            serializer["model"].save(self.classifier)
            serializer["optimizer"].save(self.optimizer)
            np.savez(path, **serializer.target)

        state = {"partial": self.partial, "history": self.history.rows}
        self.store.save({CHECKPOINT_FILE: write}, state, epoch=self.epoch, step=self.step)

    def restore_checkpoint(self) -> None:
        checkpoint = self.store.load()
        if checkpoint is None:
            return
        with np.load(checkpoint.path(CHECKPOINT_FILE), allow_pickle=False) as npz:
            deserializer = serializers.NpzDeserializer(npz)
            deserializer["model"].load(self.classifier)
            deserializer["optimizer"].load(self.optimizer)
        self.epoch, self.step = checkpoint.epoch, checkpoint.step
        self.partial = dict(checkpoint.state.get("partial") or self.partial)
        self.history.rows = list(checkpoint.state.get("history") or [])
        logger.info("resumed from checkpoint: epoch %d, step %d/%d", self.epoch, self.step, self.steps_per_epoch)

    # -- the loop ----------------------------------------------------------------------------------------
    def _order(self, epoch: int) -> np.ndarray:
        """The epoch's shuffle depends only on (seed, epoch), so a resumed epoch replays the same batches."""
        return np.random.RandomState([self.hp.seed, epoch]).permutation(len(self.train))

    def run_epoch(self, stop: StopSignal) -> None:
        bs, images, labels = self.hp.batch_size, self.train.images, self.train.labels
        order = self._order(self.epoch)
        started = time.perf_counter()
        done_before = self.partial["count"]
        for step in range(self.step, self.steps_per_epoch):
            self.step = step
            if stop.requested:
                self.save_checkpoint()
                raise TrainingInterrupted(
                    f"stopped at epoch {self.epoch} step {self.step}/{self.steps_per_epoch}; "
                    f"checkpoint saved in {self.store.directory}, a new job with the same checkpoint "
                    "location resumes from there"
                )
            index = order[self.step * bs : (self.step + 1) * bs]
            self.classifier.cleargrads()
            loss = self.classifier(images[index], labels[index])
            loss.backward()
            self.optimizer.update()
            self.partial["loss_sum"] += float(loss.array) * len(index)
            self.partial["acc_sum"] += float(self.classifier.accuracy.array) * len(index)
            self.partial["count"] += len(index)
        seconds = time.perf_counter() - started
        count = self.partial["count"]
        val_loss, val_acc = evaluate(self.classifier, self.valid)
        metrics = {
            "train_loss": self.partial["loss_sum"] / count,
            "train_accuracy": self.partial["acc_sum"] / count,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "images_per_sec": (count - done_before) / seconds if seconds > 0 else 0.0,
        }
        self.history.log(self.epoch, metrics, seconds=round(seconds, 3))
        self.epoch, self.step = self.epoch + 1, 0
        self.partial = {"loss_sum": 0.0, "acc_sum": 0.0, "count": 0}
        self.save_checkpoint()

    def fit(self, stop: StopSignal) -> None:
        with self.history.curves_on_exit(output_file(self.env.paths, "training_curves.png"), CURVE_PANELS):
            while self.epoch <= self.hp.epochs:
                self.run_epoch(stop)


def _load(env: TrainingEnv, channel: str, required: bool = True) -> Split | None:
    path = find_npz(env, channel, required)
    if path is None:
        logger.info("channel %s: absent", channel)
        return None
    split = load_split(path, channel)
    logger.info("channel %s: %d images from %s", channel, len(split), path.name)
    return split


def _load_required(env: TrainingEnv, channel: str) -> Split:
    split = _load(env, channel)
    if split is None:  # unreachable: find_npz raises for a required channel
        raise DataError(f"channel '{channel}' holds no data")
    return split


def train(env: TrainingEnv, stop: StopSignal) -> None:
    """The image's training job (called by ``sm_contract.training.run_training``)."""
    hp = hyperparameters.parse(Hyperparameters, env.hyperparameters)
    logger.info("hyperparameters: %s", hyperparameters.as_dict(hp))
    train_split, valid_split = _load_required(env, "train"), _load_required(env, "valid")
    if hp.batch_size > len(train_split):
        raise DataError(f"batch-size {hp.batch_size} exceeds the {len(train_split)} training images")
    test_split = _load(env, "test", required=False)

    trainer = Trainer(env, hp, train_split, valid_split)
    trainer.restore_checkpoint()
    trainer.fit(stop)

    summary: dict[str, Any] = dict(trainer.history.rows[-1]) if trainer.history.rows else {}
    if test_split is not None:
        test_loss, test_acc = evaluate(trainer.classifier, test_split)
        summary.update(test_loss=test_loss, test_accuracy=test_acc)
        logger.info(format_metrics(hp.epochs, {"test_loss": test_loss, "test_accuracy": test_acc}))
    write_json(output_file(env.paths, "results.json"), summary)
    if env.is_master:
        save_model(env.paths.model_dir, trainer, summary)


def save_model(model_dir: Path, trainer: Trainer, summary: dict[str, Any]) -> None:
    """``model.npz`` (the classifier's parameters) and ``model.json`` (how to rebuild and read it)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(model_dir / "model.npz", lambda p: serializers.save_npz(str(p), trainer.classifier))
    trainer.spec.save(
        model_dir / "model.json",
        labels=list(range(model_lib.N_CLASSES)),
        hyperparameters=hyperparameters.as_dict(trainer.hp),
        metrics={k: v for k, v in summary.items() if k != "epoch"},
    )
    logger.info("model saved to %s", model_dir)
