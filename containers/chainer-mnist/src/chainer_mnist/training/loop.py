"""The epoch loop: exact resume from per-epoch (and on-stop) checkpoints, data-parallel across MPI processes.

The shuffle of an epoch depends only on (seed, epoch), so a resumed epoch replays the same batches; with several
processes each takes its share of every global batch and the gradients are averaged, so the updates are those
of one process. Rank 0 evaluates, logs, draws the curves and writes the checkpoints.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import chainer
import chainer.functions as F
import numpy as np
from chainer import serializers

from chainer_mnist import model as model_lib
from chainer_mnist.data import Split
from chainer_mnist.training.distributed import Group, Solo
from chainer_mnist.training.optim import make_optimizer
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import TrainingInterrupted
from sm_contract.metrics import MetricsHistory
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

EVAL_BATCH = 2000
CURVE_PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_accuracy", "val_accuracy")))
CHECKPOINT_FILE = "checkpoint.npz"
PARTIAL_KEYS = ("loss_sum", "acc_sum", "count")


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    seed: int
    optimizer: str
    learning_rate: float
    alpha: float


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


def _zero() -> dict[str, float]:
    return dict.fromkeys(PARTIAL_KEYS, 0.0)


class Trainer:
    """One training run: owns the model, the optimizer, the checkpoint store and the metrics history."""

    def __init__(
        self,
        env: TrainingEnv,
        settings: LoopSettings,
        spec: model_lib.ModelSpec,
        data: tuple[Split, Split],
        store: CheckpointStore,
        workers: Group | None = None,
    ) -> None:
        self.env, self.settings, self.spec, self.store = env, settings, spec, store
        self.train, self.valid = data
        self.workers = workers or Solo()
        np.random.seed(settings.seed)  # Chainer's initializers and dropout draw from NumPy's global RNG
        self.classifier = model_lib.build(spec)
        self.inner_optimizer = make_optimizer(settings.optimizer, settings.learning_rate, settings.alpha)
        self.optimizer = self.workers.optimizer(self.inner_optimizer)
        self.optimizer.setup(self.classifier)
        self.history = MetricsHistory(output_file(env.paths, "metrics.json"))
        self.steps_per_epoch = math.ceil(len(self.train) / settings.batch_size)
        self.epoch, self.step = 1, 0  # next epoch to run and step within it
        self.partial = _zero()  # this epoch's sums so far (all processes' once reduced)

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint: every process holds the same parameters."""
        if self.workers.rank != 0:
            return
        serializer = serializers.DictionarySerializer()
        serializer["model"].save(self.classifier)
        serializer["optimizer"].save(self.inner_optimizer)
        arrays = dict(serializer.target)
        state = {"partial": self.partial, "history": self.history.rows}

        def write(path: Any) -> None:
            np.savez(path, **arrays)

        self.store.save({CHECKPOINT_FILE: write}, state, epoch=self.epoch, step=self.step)

    def restore_checkpoint(self) -> None:
        """Rank 0 reads and checks the checkpoint; every process takes its content from rank 0."""
        found = None
        if self.workers.rank == 0:
            checkpoint = self.store.load()
            if checkpoint is not None:
                with np.load(checkpoint.path(CHECKPOINT_FILE), allow_pickle=False) as npz:
                    arrays = {name: npz[name] for name in npz.files}
                found = (arrays, checkpoint.epoch, checkpoint.step, checkpoint.state)
        found = self.workers.broadcast(found)
        if found is None:
            return
        arrays, self.epoch, self.step, state = found
        deserializer = serializers.NpzDeserializer(arrays)
        deserializer["model"].load(self.classifier)
        deserializer["optimizer"].load(self.inner_optimizer)
        if self.workers.rank == 0:  # the saved sums are all processes' already
            self.partial = {key: float(state["partial"][key]) for key in PARTIAL_KEYS}
            self.history.rows = list(state.get("history") or [])
        logger.info("resumed from checkpoint: epoch %d, step %d/%d", self.epoch, self.step, self.steps_per_epoch)

    # -- the loop ----------------------------------------------------------------------------------------
    def _order(self, epoch: int) -> np.ndarray:
        return np.random.RandomState([self.settings.seed, epoch]).permutation(len(self.train))

    def _reduce(self) -> dict[str, float]:
        """All processes' sums of this epoch (a collective call: every process makes it)."""
        return dict(zip(PARTIAL_KEYS, self.workers.sum([self.partial[k] for k in PARTIAL_KEYS]), strict=True))

    def _stop(self) -> None:
        self.partial = self._reduce()
        self.save_checkpoint()
        raise TrainingInterrupted(
            f"stopped at epoch {self.epoch} step {self.step}/{self.steps_per_epoch}; "
            f"checkpoint saved in {self.store.directory}, a new job with the same checkpoint "
            "location resumes from there"
        )

    def run_epoch(self, stop: StopSignal) -> None:
        bs, images, labels = self.settings.batch_size, self.train.images, self.train.labels
        rank, size = self.workers.rank, self.workers.size
        order = self._order(self.epoch)
        started = time.perf_counter()
        done_before = self.partial["count"]
        for step in range(self.step, self.steps_per_epoch):
            self.step = step
            if self.workers.any(stop.requested):  # every process stops at the same step
                self._stop()
            index = order[step * bs : (step + 1) * bs][rank::size]  # this process's share of the batch
            self.classifier.cleargrads()
            loss = self.classifier(images[index], labels[index])
            loss.backward()
            self.optimizer.update()
            self.partial["loss_sum"] += float(loss.array) * len(index)
            self.partial["acc_sum"] += float(self.classifier.accuracy.array) * len(index)
            self.partial["count"] += len(index)
        seconds = time.perf_counter() - started
        totals = self._reduce()
        self.epoch, self.step, self.partial = self.epoch + 1, 0, _zero()
        if rank == 0:
            self._log(self.epoch - 1, totals, totals["count"] - done_before, seconds)
            self.save_checkpoint()

    def _log(self, epoch: int, totals: dict[str, float], images: float, seconds: float) -> None:
        val_loss, val_acc = evaluate(self.classifier, self.valid)
        metrics = {
            "train_loss": totals["loss_sum"] / totals["count"],
            "train_accuracy": totals["acc_sum"] / totals["count"],
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "images_per_sec": images / seconds if seconds > 0 else 0.0,
        }
        self.history.log(epoch, metrics, seconds=round(seconds, 3))

    def fit(self, stop: StopSignal) -> None:
        with self.history.curves_on_exit(output_file(self.env.paths, "training_curves.png"), CURVE_PANELS):
            while self.epoch <= self.settings.epochs:
                self.run_epoch(stop)
