"""The built-in training job: hyperparameters, tokenizer and embeddings, the loop, the test report, the export."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from keras_text import model as model_lib
from keras_text.artifact import inference, text_pipeline
from keras_text.artifact.text_pipeline import UNK_ID
from keras_text.backend import keras, tf
from keras_text.text import tokenizers, vectors
from keras_text.training import data, distributed, evaluation
from keras_text.training.export import save_model
from keras_text.training.hyperparameters import Hyperparameters
from keras_text.training.loop import (
    EMBEDDINGS_ARTEFACT,
    EVAL_BATCH,
    TOKENIZER_ARTEFACT,
    LoopSettings,
    Trainer,
    balanced_weights,
)
from sm_contract import channels, hyperparameters
from sm_contract.checkpoints import Checkpoint, CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, DataError
from sm_contract.files import atomic_write, write_json
from sm_contract.metrics import format_metrics
from sm_contract.training import StopSignal, output_file

logger = logging.getLogger(__name__)

# Everything except `epochs` must match for a checkpoint to be resumed.
NOT_RESUME_KEYS = ("epochs",)
# Where the image keeps the chiVe table (Dockerfile); the host's tests and benches point elsewhere.
VECTORS_ENV, VECTORS_DIR = "KERAS_TEXT_VECTORS_DIR", "/opt/keras-text/chive"


def _vectors_dir(env: TrainingEnv) -> Path:
    folder = Path(env.environ.get(VECTORS_ENV) or VECTORS_DIR)
    if not (folder / vectors.VECTORS_FILE).is_file():
        raise ConfigurationError(
            f"the pretrained word vectors are missing from {folder} ({VECTORS_ENV}); "
            "hyperparameter 'tokenizer' sentencepiece trains its own"
        )
    return folder


def _text_model(
    env: TrainingEnv, hp: Hyperparameters, texts: tuple[str, ...], checkpoint: Checkpoint | None
) -> tokenizers.TextModel:
    """The checkpointed tokenizer and embeddings when resuming, else pretrained or trained ones."""
    channel = channels.channel_dir(env, "embeddings", required=False)
    kind = text_pipeline.SENTENCEPIECE if channel is not None else hp.tokenizer
    if checkpoint is not None:
        logger.info("tokenizer and embeddings restored from %s", checkpoint.directory)
        return tokenizers.restore(
            kind,
            checkpoint.path(TOKENIZER_ARTEFACT).read_bytes(),
            np.load(checkpoint.path(EMBEDDINGS_ARTEFACT), allow_pickle=False),
            hp.forms,
        )
    if channel is not None:
        logger.info("channel embeddings: its SentencePiece model and vectors replace tokenizer %s", hp.tokenizer)
        return tokenizers.load_pretrained(channel, hp.seed)
    if kind == text_pipeline.SUDACHI:
        return tokenizers.pretrained_words(vectors.load(_vectors_dir(env)), hp.forms)
    return tokenizers.train_text_model(
        texts,
        hp.vocab_size,
        hp.embedding_dim,
        hp.seed,
        character_coverage=hp.character_coverage,
        w2v_window=hp.w2v_window,
        w2v_epochs=hp.w2v_epochs,
    )


def _resume_config(hp: Hyperparameters, labels: list[str], channel: bool) -> dict[str, Any]:
    """What a checkpoint must share with the job to be resumed: the hyperparameters but ``epochs``, the labels,
    where the vectors come from and Sudachi's dictionary (the word ids come from the one that split the texts)."""
    fields = {k: v for k, v in hyperparameters.as_dict(hp).items() if k not in NOT_RESUME_KEYS}
    dictionary = text_pipeline.DICTIONARY if hp.tokenizer == text_pipeline.SUDACHI and not channel else None
    return fields | {"labels": labels, "pretrained": channel, "dictionary": dictionary}


def _load_train(env: TrainingEnv) -> data.TextSet:
    train_set = data.load_channel(env, "train")
    if train_set is None:  # unreachable: a required channel raises
        raise DataError("channel 'train' holds no data")
    return train_set


def train(env: TrainingEnv, stop: StopSignal) -> None:
    """The image's training job (called by ``sm_contract.training.run_training``).

    On several hosts every host runs it (``python -m keras_text.training``) with MultiWorkerMirroredStrategy:
    each reads the full channels, tokenizes them identically and trains on its share of every batch
    (``batch-size`` is the global batch, split among the workers); the chief (the master host) alone writes the
    checkpoints, the outputs and the model.
    """
    strategy = distributed.strategy()  # before any other TensorFlow work, as MultiWorkerMirroredStrategy requires
    chief = distributed.is_chief()
    hp = hyperparameters.parse(Hyperparameters, env.hyperparameters)
    logger.info("hyperparameters: %s", hyperparameters.as_dict(hp))
    logger.info(
        "%s; %d replica(s) in sync, global batch %d texts",
        distributed.describe(),
        strategy.num_replicas_in_sync,
        hp.batch_size,
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)  # one INFO line per word2vec epoch otherwise
    train_set, test_set = _load_train(env), data.load_channel(env, "test", required=False)
    labels = data.label_index(train_set.labels)
    if len(labels) < 2:
        raise DataError(f"channel 'train' file '{data.LABELS_FILE}' holds only one label ({labels[0]!r})")
    logger.info("channel train: %d texts, labels %s", len(train_set), labels)
    y = data.encode_labels(train_set.labels, labels, "channel 'train'")

    keras.utils.set_random_seed(hp.seed)
    tf.config.experimental.enable_op_determinism()
    channel = channels.channel_dir(env, "embeddings", required=False) is not None
    pretrained = channel or hp.tokenizer == text_pipeline.SUDACHI
    store = CheckpointStore(env.paths.checkpoints_dir, config=_resume_config(hp, labels, channel))
    checkpoint = store.load()
    text_model = _text_model(env, hp, train_set.texts, checkpoint)
    pre = inference.Preprocessor(text_model.encoder, labels, hp.input_len)
    x = pre.encode(train_set.texts)
    kept = x[x != text_pipeline.PAD_ID]
    logger.info("%s: %d tokens kept in train, %.1f%% known", text_model.kind, kept.size, 100 * np.mean(kept != UNK_ID))
    train_rows, valid_rows = data.stratified_split(y, hp.validation_split, hp.seed)

    vocab, dim = text_model.embeddings.shape
    settings: dict[str, Any] = {
        "vocab_size": vocab,
        "embedding_dim": dim,
        "input_len": hp.input_len,
        "hidden": hp.hidden,
        "n_labels": len(labels),
        "embeddings": text_model.embeddings,
        "trainable_embeddings": not hp.frozen(pretrained),
        "dropout": hp.dropout,
        "lstm_dropout": hp.lstm_dropout,
        "learning_rate": hp.learning_rate,
        "attention_width": hp.attention_width,
        "mask_padding": hp.mask_padding,
    }
    several = distributed.workers() > 1
    with strategy.scope():
        network = model_lib.build(**settings)
        trainer = Trainer(
            env,
            _loop_settings(hp, y[train_rows], len(labels)),
            network,
            store,
            text_model,
            chief=chief,
            total=(lambda value: distributed.total(strategy, value)) if several else None,
            scope=strategy.scope,
        )
        if checkpoint is not None:
            trainer.restore(checkpoint)
    if several:
        _same_start(strategy, trainer.epoch)
    trainer.fit(x[train_rows], y[train_rows], (x[valid_rows], y[valid_rows]), stop)
    if not chief:
        logger.info("training done; waiting for the chief to write the outputs and the model")
        distributed.total(strategy, 0.0)  # the barrier the chief reaches once it is done (or has failed)
        return
    try:
        if several:  # scoring and export without collectives: a plain copy of the trained weights
            plain = model_lib.build(**settings)
            plain.set_weights(network.get_weights())
            network = plain
        summary = _summarise(env, trainer, network, pre, test_set)
        notices = vectors.notices(_vectors_dir(env)) if text_model.kind == text_pipeline.SUDACHI else []
        save_model(
            env.paths.model_dir,
            hp.model_version,
            hp.input_len,
            hyperparameters.as_dict(hp),
            network,
            pre,
            summary,
            notices,
        )
    finally:
        if several:  # the other workers' processes (and TensorFlow's cluster) stay up until the chief is done
            distributed.total(strategy, 0.0)


def _loop_settings(hp: Hyperparameters, y: np.ndarray, n_labels: int) -> LoopSettings:
    return LoopSettings(
        hp.epochs,
        hp.batch_size,
        hp.seed,
        patience=hp.patience,
        learning_rate=hp.learning_rate,
        learning_rate_decay=hp.learning_rate_decay,
        fine_tune_epochs=hp.fine_tune_epochs,
        fine_tune_learning_rate=hp.fine_tune_learning_rate,
        class_weights=balanced_weights(y, n_labels) if hp.class_weights == "balanced" else None,
    )


def _same_start(strategy: Any, epoch: int) -> None:
    """Every worker must start at the same epoch, or their collectives would never meet: a checkpoint (SageMaker
    restores the job's checkpoint location on every host) present on some hosts only fails the job instead."""
    if distributed.total(strategy, float(epoch)) != epoch * distributed.workers():
        raise ConfigurationError(
            f"this worker resumes at epoch {epoch} but another worker does not: every host needs the same "
            "checkpoint (or none) in /opt/ml/checkpoints"
        )


def _summarise(
    env: TrainingEnv,
    trainer: Trainer,
    network: keras.Model,
    pre: inference.Preprocessor,
    test_set: data.TextSet | None,
) -> dict[str, Any]:
    rows = trainer.history.rows
    _write_history_csv(output_file(env.paths, "history.csv"), rows)
    summary: dict[str, Any] = {"epochs_run": len(rows), "best_val_accuracy": trainer.best_accuracy}
    if test_set is not None:
        y_true = data.encode_labels(test_set.labels, pre.labels, "channel 'test'")
        probabilities = network.predict(pre.encode(test_set.texts), batch_size=EVAL_BATCH, verbose=0)
        result = evaluation.report(y_true, probabilities.argmax(axis=1), pre.labels)
        write_json(output_file(env.paths, "test_metrics.json"), result)
        evaluation.plot_confusion(result, output_file(env.paths, "confusion_matrix.png"))
        summary |= {"test_accuracy": result["accuracy"], "test_macro_f1": result["macro_f1"]}
        logger.info(format_metrics(len(rows), {k: summary[k] for k in ("test_accuracy", "test_macro_f1")}))
    write_json(output_file(env.paths, "metrics.json"), summary)
    return summary


def _write_history_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
