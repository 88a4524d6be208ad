"""The network of the article and its SavedModel export with a fixed serving signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from keras_self_attention import SeqSelfAttention

from keras_text.backend import keras, tf
from keras_text.inference import BATCHED, LINE, PROBABILITIES, TOKENS


def build(
    *,
    vocab_size: int,
    embedding_dim: int,
    input_len: int,
    hidden: int,
    n_labels: int,
    embeddings: np.ndarray | None = None,
    trainable_embeddings: bool = True,
    dropout: float = 0.1,
) -> keras.Model:
    """Embedding -> multiplicative self-attention -> BiLSTM -> Dense(2*hidden) -> Dropout -> softmax; nadam."""
    if embeddings is not None and embeddings.shape != (vocab_size, embedding_dim):
        raise ValueError(f"embeddings have shape {embeddings.shape}; expected {(vocab_size, embedding_dim)}")
    init = keras.initializers.Constant(embeddings) if embeddings is not None else "uniform"
    inputs = keras.Input(shape=(input_len,), dtype="int32", name=TOKENS)
    x = keras.layers.Embedding(
        vocab_size, embedding_dim, embeddings_initializer=init, trainable=trainable_embeddings, name="embedding"
    )(inputs)
    x = SeqSelfAttention(attention_type=SeqSelfAttention.ATTENTION_TYPE_MUL, name="attention")(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(hidden), name="bilstm")(x)
    x = keras.layers.Dense(2 * hidden, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_labels, activation="softmax", name=PROBABILITIES)(x)
    model = keras.Model(inputs, outputs, name="keras_text")
    model.compile(optimizer="nadam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Servable(tf.Module):
    def __init__(self, model: keras.Model, input_len: int) -> None:
        super().__init__()
        self.model = model
        self.serve = tf.function(
            self._serve,
            input_signature=[
                tf.TensorSpec([None, input_len], tf.int32, name=TOKENS),
                tf.TensorSpec([None], tf.int32, name=LINE),
                tf.TensorSpec([None], tf.int32, name=BATCHED),
            ],
        )

    def _serve(self, tokens: tf.Tensor, line: tf.Tensor, batched: tf.Tensor) -> dict[str, tf.Tensor]:
        return {
            PROBABILITIES: self.model(tokens, training=False),
            LINE: tf.identity(line),
            BATCHED: tf.identity(batched),
        }


def export(model: keras.Model, directory: Path, input_len: int) -> None:
    """A SavedModel whose ``serving_default`` maps tokens (plus two pass-through ints) to probabilities."""
    servable = _Servable(model, input_len)
    tf.saved_model.save(servable, str(directory), signatures={"serving_default": servable.serve})


class ServingFunction:
    """The compiled ``serving_default`` function of an exported model (no Python layer code needed)."""

    def __init__(self, directory: Path) -> None:
        self._loaded = tf.saved_model.load(str(directory))  # kept: the function only weakly holds its variables
        self._function = self._loaded.signatures["serving_default"]

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        n = tokens.shape[0]
        zeros = tf.zeros([n], tf.int32)
        out = self._function(**{TOKENS: tf.constant(tokens, tf.int32), LINE: zeros, BATCHED: zeros})
        return out[PROBABILITIES].numpy()
