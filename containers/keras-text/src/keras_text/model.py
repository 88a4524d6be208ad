"""The network of the article and its SavedModel export with a fixed serving signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from keras_self_attention import SeqSelfAttention

from keras_text.artifact.inference import BATCHED, LINE, PROBABILITIES, TOKENS
from keras_text.backend import keras, tf


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
    lstm_dropout: float = 0.0,
    learning_rate: float = 0.001,
    attention_width: int = 0,
    mask_padding: bool = False,
) -> keras.Model:
    """Embedding -> multiplicative self-attention -> BiLSTM -> Dense(2*hidden) -> Dropout -> softmax; nadam.

    The LSTMs are unrolled over the ``input_len`` steps: the same weights and arithmetic as a symbolic loop, but
    a CPU runs the straight-line graph about three times faster for one text (the serving case).
    ``attention_width`` > 0 lets each word attend to that many words around it instead of the whole text.
    ``mask_padding``: the padding ids are masked, so the LSTMs skip them (texts are left-padded: without the mask
    the backward LSTM ends on up to ``input_len`` steps of padding) and padding never attends to padding.
    """
    if embeddings is not None and embeddings.shape != (vocab_size, embedding_dim):
        raise ValueError(f"embeddings have shape {embeddings.shape}; expected {(vocab_size, embedding_dim)}")
    init = keras.initializers.Constant(embeddings) if embeddings is not None else "uniform"
    inputs = keras.Input(shape=(input_len,), dtype="int32", name=TOKENS)
    x = keras.layers.Embedding(
        vocab_size,
        embedding_dim,
        embeddings_initializer=init,
        trainable=trainable_embeddings,
        mask_zero=mask_padding,  # PAD_ID is 0
        name="embedding",
    )(inputs)
    x = SeqSelfAttention(
        attention_type=SeqSelfAttention.ATTENTION_TYPE_MUL, attention_width=attention_width or None, name="attention"
    )(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(hidden, dropout=lstm_dropout, unroll=True), name="bilstm")(x)
    x = keras.layers.Dense(2 * hidden, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_labels, activation="softmax", name=PROBABILITIES)(x)
    model = keras.Model(inputs, outputs, name="keras_text")
    compile_model(model, learning_rate)
    return model


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Nadam on the cross-entropy of the labels; a new optimizer (its slots start again from zero)."""
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )


def unfreeze_embedding(model: keras.Model, learning_rate: float) -> None:
    """Make the embedding trainable and recompile (Keras reads ``trainable`` when it compiles), at ``learning_rate``.

    Weights are unchanged; their order in ``get_weights`` is the layers' order whether the embedding trains or not.
    """
    model.get_layer("embedding").trainable = True
    compile_model(model, learning_rate)


def set_learning_rate(model: keras.Model, rate: float) -> None:
    model.optimizer.learning_rate = rate


class _Servable(tf.Module):
    """Only what serving needs: the model's weights and the signature function that closes over the model.

    The Keras model itself is not tracked, so the SavedModel holds neither the optimizer's slots nor one
    traced function per layer: it is a few times smaller and loads in a fraction of the time.
    """

    def __init__(self, model: keras.Model, input_len: int) -> None:
        super().__init__()
        self.model_weights = list(model.weights)  # tracked: the variables the function captures

        def serve(tokens: tf.Tensor, line: tf.Tensor, batched: tf.Tensor) -> dict[str, tf.Tensor]:
            return {
                PROBABILITIES: model(tokens, training=False),
                LINE: tf.identity(line),
                BATCHED: tf.identity(batched),
            }

        self.serve = tf.function(
            serve,
            input_signature=[
                tf.TensorSpec([None, input_len], tf.int32, name=TOKENS),
                tf.TensorSpec([None], tf.int32, name=LINE),
                tf.TensorSpec([None], tf.int32, name=BATCHED),
            ],
        )


def export(model: keras.Model, directory: Path, input_len: int) -> None:
    """A SavedModel whose ``serving_default`` maps tokens (plus two pass-through ints) to probabilities."""
    servable = _Servable(model, input_len)
    tf.saved_model.save(servable, str(directory), signatures={"serving_default": servable.serve})
