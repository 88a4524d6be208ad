"""Training: hyperparameters, tokenizer and embeddings, the epoch loop with checkpoints, and the outputs."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_text import data, evaluation, inference, text
from keras_text import model as model_lib
from keras_text.backend import keras, tf
from sm_contract import channels, hyperparameters
from sm_contract.checkpoints import CheckpointStore, atomic_write
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, DataError, TrainingInterrupted
from sm_contract.metrics import MetricsHistory, format_metrics
from sm_contract.plots import plot_curves
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

PATIENCE = 3  # epochs without a better val_accuracy before stopping (the article's EarlyStopping)
EVAL_BATCH = 256
CURVE_PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_accuracy", "val_accuracy")))
TOKENIZER_ARTEFACT, EMBEDDINGS_ARTEFACT = "tokenizer.model", "embeddings.npy"
# Everything except `epochs` must match for a checkpoint to be resumed.
NOT_RESUME_KEYS = ("epochs",)


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 30
    batch_size: int = 32
    hidden: int = 64
    validation_split: float = 0.1
    input_len: int = 64
    # Defaults checked by bench/keras_text_tuning.py on a split of train: no alternative beat them beyond seed noise.
    vocab_size: int = 3000
    embedding_dim: int = 100
    learning_rate: float = 0.001  # nadam's
    character_coverage: float = 0.9995  # SentencePiece: share of characters kept as pieces of their own
    w2v_window: int = 5
    w2v_epochs: int = 10
    freeze_embeddings: str = "auto"  # auto: frozen only for pretrained vectors (embeddings channel)
    seed: int = 0
    model_version: int = 1

    def validate(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "hidden",
            "input_len",
            "embedding_dim",
            "model_version",
            "w2v_window",
            "w2v_epochs",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be >= 1")
        if self.vocab_size < 16:
            raise ConfigurationError("hyperparameter 'vocab-size' must be >= 16")
        if not self.learning_rate > 0:
            raise ConfigurationError("hyperparameter 'learning-rate' must be > 0")
        if not 0.0 < self.character_coverage <= 1.0:
            raise ConfigurationError("hyperparameter 'character-coverage' must be in (0, 1]")
        if not 0.0 <= self.validation_split < 1.0:
            raise ConfigurationError("hyperparameter 'validation-split' must be in [0, 1)")
        if self.freeze_embeddings.lower() not in ("auto", "true", "false"):
            raise ConfigurationError(
                f"hyperparameter 'freeze-embeddings'={self.freeze_embeddings!r} must be true, false or auto"
            )

    def frozen(self, pretrained: bool) -> bool:
        choice = self.freeze_embeddings.lower()
        return pretrained if choice == "auto" else choice == "true"


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

    def __init__(self, env: TrainingEnv, hp: Hyperparameters, model: keras.Model, store: CheckpointStore) -> None:
        self.env, self.hp, self.model, self.store = env, hp, model, store
        self.history = MetricsHistory(output_file(env.paths, "history.json"))
        self.epoch = 1  # the next epoch to run
        self.best_accuracy, self.wait = -1.0, 0
        self.best_weights: list[np.ndarray] = model.get_weights()
        self.resume_fields: dict[str, Any] = {}

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        weights = self.model.get_weights()
        optimizer = [v.numpy() for v in self.model.optimizer.variables]

        def write(path: Path) -> None:
            arrays = {f"weights_{k:03d}": w for k, w in enumerate(weights)}
            arrays |= {f"best_{k:03d}": w for k, w in enumerate(self.best_weights)}
            arrays |= {f"optimizer_{k:03d}": v for k, v in enumerate(optimizer)}
            np.savez(path, **arrays)

        state = {
            "next_epoch": self.epoch,
            "best_val_accuracy": self.best_accuracy,
            "wait": self.wait,
            "hyperparameters": self.resume_fields,
            "history": self.history.rows,
        }
        self.store.save(state, write)

    def restore(self, state: dict[str, Any]) -> None:
        with np.load(self.store.payload, allow_pickle=False) as npz:
            groups = {p: sorted(k for k in npz.files if k.startswith(p)) for p in ("weights_", "best_", "optimizer_")}
            weights = [npz[k] for k in groups["weights_"]]
            self.best_weights = [npz[k] for k in groups["best_"]]
            optimizer = [npz[k] for k in groups["optimizer_"]]
        self.model.set_weights(weights)
        self.model.optimizer.build(self.model.trainable_variables)
        for variable, value in zip(self.model.optimizer.variables, optimizer, strict=True):
            variable.assign(value)
        self.epoch = int(state["next_epoch"])
        self.best_accuracy, self.wait = float(state["best_val_accuracy"]), int(state["wait"])
        self.history.rows = list(state.get("history") or [])
        logger.info("resumed from checkpoint: epoch %d", self.epoch)

    # -- the loop ----------------------------------------------------------------------------------------
    def run_epoch(self, x: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray], stop: StopSignal) -> None:
        order = np.random.RandomState([self.hp.seed, self.epoch]).permutation(len(y))
        check = StopCheck(stop)
        started = time.perf_counter()
        fitted = self.model.fit(
            x[order], y[order], batch_size=self.hp.batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[check]
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
        self.history.log(self.epoch, metrics, seconds=round(seconds, 3))
        self._early_stopping(metrics.get("val_accuracy"))
        self.epoch += 1
        self.save_checkpoint()

    def _early_stopping(self, accuracy: float | None) -> None:
        if accuracy is None or accuracy > self.best_accuracy:
            self.best_accuracy = -1.0 if accuracy is None else accuracy
            self.best_weights, self.wait = self.model.get_weights(), 0
        else:
            self.wait += 1

    def fit(self, x: np.ndarray, y: np.ndarray, valid: tuple[np.ndarray, np.ndarray], stop: StopSignal) -> None:
        try:
            while self.epoch <= self.hp.epochs and self.wait < PATIENCE:
                self.run_epoch(x, y, valid, stop)
        finally:
            plot_curves(self.history.rows, output_file(self.env.paths, "training_curves.png"), CURVE_PANELS)
        if self.wait >= PATIENCE:
            logger.info("early stopping after epoch %d (best val_accuracy %.4f)", self.epoch - 1, self.best_accuracy)
        self.model.set_weights(self.best_weights)


def _text_model(env: TrainingEnv, hp: Hyperparameters, texts: tuple[str, ...], resuming: bool) -> text.TextModel:
    """The checkpointed tokenizer and embeddings when resuming, else pretrained or trained ones (then saved)."""
    folder = env.paths.checkpoints_dir
    if resuming and (folder / TOKENIZER_ARTEFACT).is_file() and (folder / EMBEDDINGS_ARTEFACT).is_file():
        logger.info("tokenizer and embeddings restored from %s", folder)
        return text.TextModel(
            (folder / TOKENIZER_ARTEFACT).read_bytes(), np.load(folder / EMBEDDINGS_ARTEFACT, allow_pickle=False)
        )
    pretrained = channels.channel_dir(env, "embeddings", required=False)
    if pretrained is not None:
        result = text.load_pretrained(pretrained, hp.seed)
    else:
        result = text.train_text_model(
            texts,
            hp.vocab_size,
            hp.embedding_dim,
            hp.seed,
            character_coverage=hp.character_coverage,
            w2v_window=hp.w2v_window,
            w2v_epochs=hp.w2v_epochs,
        )
    atomic_write(folder / TOKENIZER_ARTEFACT, lambda p: p.write_bytes(result.tokenizer))
    atomic_write(folder / EMBEDDINGS_ARTEFACT, lambda p: np.save(p, result.embeddings, allow_pickle=False))
    return result


def _check_resumable(store: CheckpointStore, fields: dict[str, Any]) -> dict[str, Any] | None:
    state = store.load_state()
    if state is None:
        return None
    saved = state.get("hyperparameters", {})
    mismatched = {k: (saved.get(k), v) for k, v in fields.items() if saved.get(k) != v}
    if mismatched:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs job {b!r}" for k, (a, b) in mismatched.items())
        raise ConfigurationError(
            f"checkpoint in {store.directory} belongs to another configuration ({detail}); "
            "use an empty checkpoint location"
        )
    return state


def _load_train(env: TrainingEnv) -> data.TextSet:
    train_set = data.load_channel(env, "train")
    if train_set is None:  # unreachable: a required channel raises
        raise DataError("channel 'train' holds no data")
    return train_set


def train(env: TrainingEnv, stop: StopSignal) -> None:
    """The image's training job (called by ``sm_contract.training.run_training``)."""
    hp = hyperparameters.parse(Hyperparameters, env.hyperparameters)
    logger.info("hyperparameters: %s", hyperparameters.as_dict(hp))
    logging.getLogger("gensim").setLevel(logging.WARNING)  # one INFO line per word2vec epoch otherwise
    train_set, test_set = _load_train(env), data.load_channel(env, "test", required=False)
    labels = data.label_index(train_set.labels)
    if len(labels) < 2:
        raise DataError(f"channel 'train' file '{data.LABELS_FILE}' holds only one label ({labels[0]!r})")
    logger.info("channel train: %d texts, labels %s", len(train_set), labels)
    y = data.encode_labels(train_set.labels, labels, "channel 'train'")

    keras.utils.set_random_seed(hp.seed)
    tf.config.experimental.enable_op_determinism()
    store = CheckpointStore(env.paths.checkpoints_dir, payload_name="weights.npz")
    pretrained = channels.channel_dir(env, "embeddings", required=False) is not None
    fields = {k: v for k, v in hyperparameters.as_dict(hp).items() if k not in NOT_RESUME_KEYS}
    fields |= {"labels": labels, "pretrained": pretrained}
    state = _check_resumable(store, fields)
    text_model = _text_model(env, hp, train_set.texts, resuming=state is not None)
    pre = inference.Preprocessor(text_model.processor(), labels, hp.input_len)
    x = pre.encode(train_set.texts)
    train_rows, valid_rows = data.stratified_split(y, hp.validation_split, hp.seed)

    vocab, dim = text_model.embeddings.shape
    network = model_lib.build(
        vocab_size=vocab,
        embedding_dim=dim,
        input_len=hp.input_len,
        hidden=hp.hidden,
        n_labels=len(labels),
        embeddings=text_model.embeddings,
        trainable_embeddings=not hp.frozen(pretrained),
        learning_rate=hp.learning_rate,
    )
    trainer = Trainer(env, hp, network, store)
    trainer.resume_fields = fields
    if state is not None:
        trainer.restore(state)
    trainer.fit(x[train_rows], y[train_rows], (x[valid_rows], y[valid_rows]), stop)
    summary = _summarise(env, trainer, pre, test_set)
    if env.is_master:
        save_model(env.paths.model_dir, hp, network, pre, text_model, summary)


def _summarise(
    env: TrainingEnv, trainer: Trainer, pre: inference.Preprocessor, test_set: data.TextSet | None
) -> dict[str, Any]:
    rows = trainer.history.rows
    _write_history_csv(output_file(env.paths, "history.csv"), rows)
    summary: dict[str, Any] = {"epochs_run": len(rows), "best_val_accuracy": trainer.best_accuracy}
    if test_set is not None:
        y_true = data.encode_labels(test_set.labels, pre.labels, "channel 'test'")
        probabilities = trainer.model.predict(pre.encode(test_set.texts), batch_size=EVAL_BATCH, verbose=0)
        result = evaluation.report(y_true, probabilities.argmax(axis=1), pre.labels)
        atomic_write(
            output_file(env.paths, "test_metrics.json"),
            lambda p: p.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"),
        )
        evaluation.plot_confusion(result, output_file(env.paths, "confusion_matrix.png"))
        summary |= {"test_accuracy": result["accuracy"], "test_macro_f1": result["macro_f1"]}
        logger.info(format_metrics(len(rows), {k: summary[k] for k in ("test_accuracy", "test_macro_f1")}))
    atomic_write(
        output_file(env.paths, "metrics.json"),
        lambda p: p.write_text(json.dumps(summary, indent=2), encoding="utf-8"),
    )
    return summary


def _write_history_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def save_model(
    model_dir: Path,
    hp: Hyperparameters,
    network: keras.Model,
    pre: inference.Preprocessor,
    text_model: text.TextModel,
    summary: dict[str, Any],
) -> None:
    """The TF Serving layout: ``<model-version>/`` SavedModel and ``code/`` with inference.py and its files."""
    version_dir, code_dir = model_dir / str(hp.model_version), model_dir / "code"
    for folder in (version_dir, code_dir):
        shutil.rmtree(folder, ignore_errors=True)
    model_lib.export(network, version_dir, hp.input_len)
    code_dir.mkdir(parents=True)
    shutil.copyfile(Path(inference.__file__), code_dir / "inference.py")
    (code_dir / inference.TOKENIZER_FILE).write_bytes(text_model.tokenizer)
    # What inference.py imports besides the standard library; the TF Serving container pip-installs this file.
    pins = f"numpy\nsentencepiece=={importlib.metadata.version('sentencepiece')}\n"
    (code_dir / "requirements.txt").write_text(pins, encoding="utf-8")
    meta = {
        "labels": list(pre.labels),
        "input_len": hp.input_len,
        "hyperparameters": hyperparameters.as_dict(hp),
        "metrics": summary,
    }
    (code_dir / inference.LABELS_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    logger.info("model saved to %s (version %d) with code/ in %s", version_dir, hp.model_version, code_dir)
