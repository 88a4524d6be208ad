"""The built-in training job: hyperparameters, channels, the loop (:mod:`.loop`), the test score and the model.

``python -m chainer_mnist.training`` runs it as a program (:mod:`.__main__`): the form a multi-host job starts it
in, one MPI process per host under ``mpirun``, training data-parallel.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from chainer import serializers

from chainer_mnist import model as model_lib
from chainer_mnist.data import Split, load_split
from chainer_mnist.training.distributed import group
from chainer_mnist.training.hyperparameters import Hyperparameters
from chainer_mnist.training.loop import LoopSettings, Trainer, evaluate
from sm_contract import channels, hyperparameters
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, DataError
from sm_contract.files import atomic_write, write_json
from sm_contract.metrics import format_metrics
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

# Hyperparameters that must match for a checkpoint to be resumed.
RESUME_KEYS = ("model", "units", "optimizer", "batch-size", "seed")


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

    workers = group()
    if workers.size > 1:
        logger.info("data-parallel training: process %d of %d", workers.rank, workers.size)
        if hp.batch_size < workers.size:
            raise ConfigurationError(f"batch-size {hp.batch_size} is smaller than the {workers.size} processes")
    resume = {k: v for k, v in hyperparameters.as_dict(hp).items() if k in RESUME_KEYS}
    trainer = Trainer(
        env,
        LoopSettings(hp.epochs, hp.batch_size, hp.seed, hp.optimizer, hp.learning_rate, hp.alpha),
        model_lib.ModelSpec(model=hp.model, units=hp.units),
        (train_split, valid_split),
        CheckpointStore(env.paths.checkpoints_dir, config=resume),
        workers,
    )
    trainer.restore_checkpoint()
    trainer.fit(stop)
    if workers.rank != 0:
        return

    summary: dict[str, Any] = dict(trainer.history.rows[-1]) if trainer.history.rows else {}
    if test_split is not None:
        test_loss, test_acc = evaluate(trainer.classifier, test_split)
        summary.update(test_loss=test_loss, test_accuracy=test_acc)
        logger.info(format_metrics(hp.epochs, {"test_loss": test_loss, "test_accuracy": test_acc}))
    write_json(output_file(env.paths, "results.json"), summary)
    if env.is_master:
        save_model(env.paths.model_dir, hp, trainer, summary)


def save_model(model_dir: Path, hp: Hyperparameters, trainer: Trainer, summary: dict[str, Any]) -> None:
    """``model.npz`` (the classifier's parameters) and ``model.json`` (how to rebuild and read it)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(model_dir / "model.npz", lambda p: serializers.save_npz(str(p), trainer.classifier))
    trainer.spec.save(
        model_dir / "model.json",
        labels=list(range(model_lib.N_CLASSES)),
        hyperparameters=hyperparameters.as_dict(hp),
        metrics={k: v for k, v in summary.items() if k != "epoch"},
    )
    logger.info("model saved to %s", model_dir)
