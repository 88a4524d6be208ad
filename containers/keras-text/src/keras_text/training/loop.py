"""The training loop: one ``fit`` per epoch, early stopping with best-weights restore, checkpoints of all of it.

On several workers (MultiWorkerMirroredStrategy) ``fit`` and ``evaluate`` are collectives: every worker runs the
same epochs, sees the same validation result (the strategy reduces it) and so stops early at the same epoch;
SIGTERM ends the run at the end of an epoch that all workers agree on, never in the middle of one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_text import model as model_lib
from keras_text.backend import keras
from keras_text.text import tokenizers
from keras_text.training import distributed
from sm_contract.checkpoints import Checkpoint, CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import TrainingInterrupted
from sm_contract.metrics import MetricsHistory
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

EVAL_BATCH = 256
CURVE_PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_accuracy", "val_accuracy")))
WEIGHTS_FILE, TOKENIZER_ARTEFACT, EMBEDDINGS_ARTEFACT = "weights.npz", "tokenizer.model", "embeddings.npy"


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    seed: int
    patience: int = 3  # epochs without a better val_accuracy before stopping (the article's EarlyStopping)
    learning_rate: float = 0.001
    learning_rate_decay: float = 1.0  # per epoch
    fine_tune_epochs: int = 0  # then at most this many epochs with the embedding trained too
    fine_tune_learning_rate: float = 0.0001
    class_weights: tuple[float, ...] | None = None  # the loss weight of each label index

    def rate(self, epoch: int, fine_tune_from: int | None) -> float:
        """The learning rate of ``epoch``: decayed from the phase's first epoch."""
        if fine_tune_from is None:
            return self.learning_rate * self.learning_rate_decay ** (epoch - 1)
        return self.fine_tune_learning_rate * self.learning_rate_decay ** (epoch - fine_tune_from)


def balanced_weights(y: np.ndarray, n_labels: int) -> tuple[float, ...]:
    """Label k's loss weight ``len(y) / (n_labels * count_k)``: every label weighs as much in the loss in all."""
    counts = np.bincount(y, minlength=n_labels)
    return tuple(float(len(y) / (n_labels * c)) if c else 0.0 for c in counts)


class StopCheck(keras.callbacks.Callback):
    """Ends ``fit`` after the current batch once SIGTERM has arrived."""

    def __init__(self, stop: StopSignal) -> None:
        super().__init__()
        self.stop = stop
        self.interrupted = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stop.requested:
            self.interrupted = True
            self.model.stop_training = True


class Trainer:
    """One run: the model, early stopping with best-weights restore, and checkpoints of all of it."""

    def __init__(
        self,
        env: TrainingEnv,
        settings: LoopSettings,
        model: keras.Model,
        store: CheckpointStore,
        text_model: tokenizers.TextModel,
        *,
        chief: bool = True,
        total: Callable[[float], float] | None = None,
        scope: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        """``total``: on several workers, the sum of a value over all of them (a collective, see distributed);
        ``scope``: the strategy's scope, where the model is recompiled when its embedding starts to train."""
        self.env, self.settings, self.model, self.store, self.text_model = env, settings, model, store, text_model
        self.scope = scope
        self.chief = chief  # several workers (MultiWorkerMirroredStrategy): only the chief writes checkpoints
        self.total = total
        # The chief's history and curves are the job's; the other workers keep theirs in a scratch folder.
        self.outputs = env.paths if chief else distributed.scratch_paths()
        self.history = MetricsHistory(output_file(self.outputs, "history.json"))
        self.epoch = 1  # the next epoch to run
        self.fine_tune_from: int | None = None  # the first epoch with the embedding trained, once there is one
        self.best_accuracy, self.wait = -1.0, 0
        self.best_weights: list[np.ndarray] = model.get_weights()

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.chief:
            return
        weights = self.model.get_weights()
        optimizer = [v.numpy() for v in self.model.optimizer.variables]

        def write(path: Path) -> None:
            arrays = {f"weights_{k:03d}": w for k, w in enumerate(weights)}
            arrays |= {f"best_{k:03d}": w for k, w in enumerate(self.best_weights)}
            arrays |= {f"optimizer_{k:03d}": v for k, v in enumerate(optimizer)}
            np.savez(path, **arrays)

        text_model = self.text_model
        files = {
            WEIGHTS_FILE: write,
            TOKENIZER_ARTEFACT: lambda p: p.write_bytes(text_model.tokenizer),
            EMBEDDINGS_ARTEFACT: lambda p: np.save(p, text_model.embeddings, allow_pickle=False),
        }
        state = {
            "best_val_accuracy": self.best_accuracy,
            "wait": self.wait,
            "fine_tune_from": self.fine_tune_from,
            "history": self.history.rows,
        }
        self.store.save(files, state, epoch=self.epoch)

    def restore(self, checkpoint: Checkpoint) -> None:
        with np.load(checkpoint.path(WEIGHTS_FILE), allow_pickle=False) as npz:
            groups = {p: sorted(k for k in npz.files if k.startswith(p)) for p in ("weights_", "best_", "optimizer_")}
            weights = [npz[k] for k in groups["weights_"]]
            self.best_weights = [npz[k] for k in groups["best_"]]
            optimizer = [npz[k] for k in groups["optimizer_"]]
        self.model.set_weights(weights)
        if checkpoint.state.get("fine_tune_from") is not None:  # the optimizer then also has the embedding's slots
            self._unfreeze()
            self.fine_tune_from = int(checkpoint.state["fine_tune_from"])
        self.model.optimizer.build(self.model.trainable_variables)
        for variable, value in zip(self.model.optimizer.variables, optimizer, strict=True):
            variable.assign(value)
        self.epoch = checkpoint.epoch
        self.best_accuracy, self.wait = float(checkpoint.state["best_val_accuracy"]), int(checkpoint.state["wait"])
        self.history.rows = list(checkpoint.state.get("history") or [])
        logger.info("resumed from checkpoint: epoch %d", self.epoch)

    # -- the loop ----------------------------------------------------------------------------------------
    def run_epoch(self, x: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray], stop: StopSignal) -> None:
        # The same order on every worker: the strategy splits each batch of `batch_size` texts among them.
        order = np.random.RandomState([self.settings.seed, self.epoch]).permutation(len(y))
        check = StopCheck(stop)
        rate = self.settings.rate(self.epoch, self.fine_tune_from)
        model_lib.set_learning_rate(self.model, rate)
        weights = self.settings.class_weights
        started = time.perf_counter()
        fitted = self.model.fit(
            x[order],
            y[order],
            batch_size=self.settings.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            class_weight=dict(enumerate(weights)) if weights else None,
            callbacks=[check] if self.total is None else [],  # several workers: stop between epochs only
        )
        seconds = time.perf_counter() - started
        if check.interrupted:
            self.save_checkpoint()
            raise TrainingInterrupted(
                f"stopped during epoch {self.epoch}; checkpoint saved in {self.store.directory}, a new job with "
                "the same checkpoint location resumes from the start of that epoch"
            )
        metrics = {"train_loss": fitted.history["loss"][-1], "train_accuracy": fitted.history["accuracy"][-1]}
        if len(valid[1]):
            val_loss, val_accuracy = self.model.evaluate(*valid, batch_size=EVAL_BATCH, verbose=0)
            metrics |= {"val_loss": val_loss, "val_accuracy": val_accuracy}
        metrics["texts_per_sec"] = len(y) / seconds if seconds > 0 else 0.0
        metrics["learning_rate"] = rate
        self.history.log(self.epoch, metrics, seconds=round(seconds, 3))
        self._early_stopping(metrics.get("val_accuracy"))
        self.epoch += 1
        self.save_checkpoint()
        if self.total is not None and self.total(1.0 if stop.requested else 0.0) > 0:
            raise TrainingInterrupted(
                f"stopped after epoch {self.epoch - 1}; checkpoint saved in {self.store.directory}, a new job with "
                "the same checkpoint location resumes at the next epoch"
            )

    def _early_stopping(self, accuracy: float | None) -> None:
        if accuracy is None or accuracy > self.best_accuracy:
            self.best_accuracy = -1.0 if accuracy is None else accuracy
            self.best_weights, self.wait = self.model.get_weights(), 0
        else:
            self.wait += 1

    def fit(self, x: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray], stop: StopSignal) -> None:
        with self.history.curves_on_exit(output_file(self.outputs, "training_curves.png"), CURVE_PANELS):
            while self._another_epoch():
                self.run_epoch(x, y, valid, stop)
        self.model.set_weights(self.best_weights)

    def _another_epoch(self) -> bool:
        """Whether to run ``self.epoch``; starts fine-tuning when the frozen phase is over and it is asked for."""
        settings = self.settings
        if self.fine_tune_from is None:
            if self.epoch <= settings.epochs and self.wait < settings.patience:
                return True
            self._log_stop()
            if not settings.fine_tune_epochs:
                return False
            self._start_fine_tuning()
        assert self.fine_tune_from is not None
        if self.epoch < self.fine_tune_from + settings.fine_tune_epochs and self.wait < settings.patience:
            return True
        self._log_stop()
        return False

    def _log_stop(self) -> None:
        if self.wait >= self.settings.patience:
            logger.info("early stopping after epoch %d (best val_accuracy %.4f)", self.epoch - 1, self.best_accuracy)

    def _start_fine_tuning(self) -> None:
        """From the best weights so far, the embedding trains too; early stopping goes on from the best so far."""
        self.model.set_weights(self.best_weights)
        self._unfreeze()
        self.fine_tune_from, self.wait = self.epoch, 0
        logger.info(
            "epoch %d on: the embedding trains too (learning rate %g), for at most %d epochs",
            self.epoch,
            self.settings.fine_tune_learning_rate,
            self.settings.fine_tune_epochs,
        )

    def _unfreeze(self) -> None:
        with self.scope():
            model_lib.unfreeze_embedding(self.model, self.settings.fine_tune_learning_rate)
