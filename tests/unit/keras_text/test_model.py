"""The network of the article, its export, and the tokenizer/embedding training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_text import model as model_lib
from keras_text.artifact.inference import BATCHED, LINE, PAD_ID, PROBABILITIES, TOKENS
from keras_text.backend import keras
from keras_text.serving.tfs import models
from keras_text.text import tokenizers
from sm_contract.errors import ConfigurationError


def test_build_has_the_articles_layers_and_output() -> None:
    embeddings = np.random.RandomState(0).rand(50, 8).astype(np.float32)
    network = model_lib.build(
        vocab_size=50,
        embedding_dim=8,
        input_len=12,
        hidden=4,
        n_labels=3,
        embeddings=embeddings,
        trainable_embeddings=False,
    )
    names = [type(layer).__name__ for layer in network.layers]
    assert names == ["InputLayer", "Embedding", "SeqSelfAttention", "Bidirectional", "Dense", "Dropout", "Dense"]
    assert network.get_layer("attention").attention_type == "multiplicative"
    assert network.get_layer("dense").units == 8 and not network.get_layer("embedding").trainable
    np.testing.assert_array_equal(network.get_layer("embedding").get_weights()[0], embeddings)
    probs = network.predict(np.zeros((2, 12), dtype=np.int32), verbose=0)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_masked_padding_changes_only_padded_texts() -> None:
    """With the mask, the LSTMs skip padding: a text without padding gets the unmasked model's answer, others not."""
    keras.utils.set_random_seed(0)
    settings = {"vocab_size": 30, "embedding_dim": 4, "input_len": 6, "hidden": 3, "n_labels": 2}
    plain = model_lib.build(**settings)
    masked = model_lib.build(**settings, mask_padding=True)
    masked.set_weights(plain.get_weights())
    full = np.array([[3, 4, 5, 6, 7, 8]], dtype=np.int32)
    padded = np.array([[PAD_ID, PAD_ID, PAD_ID, 6, 7, 8]], dtype=np.int32)
    np.testing.assert_allclose(masked.predict(full, verbose=0), plain.predict(full, verbose=0), rtol=1e-6)

    # The LSTMs' own output, not the softmax of an untrained head (which sits near 1/n for any input and can hide
    # a difference below any tolerance): the masked LSTMs never saw the padding's embeddings.
    def lstm_output(network: keras.Model, ids: np.ndarray) -> np.ndarray:
        lstm = next(layer for layer in network.layers if type(layer).__name__ == "Bidirectional")
        return keras.Model(network.input, lstm.output).predict(ids, verbose=0)

    np.testing.assert_allclose(lstm_output(masked, full), lstm_output(plain, full), rtol=1e-6)
    difference = np.abs(lstm_output(masked, padded) - lstm_output(plain, padded)).max()
    assert difference > 1e-3, difference


def test_attention_of_width_one_sees_only_the_word_itself() -> None:
    network = model_lib.build(vocab_size=30, embedding_dim=4, input_len=6, hidden=3, n_labels=2, attention_width=1)
    embedding, attention = network.get_layer("embedding"), network.get_layer("attention")
    assert attention.attention_width == 1
    inner = keras.Model(network.input, [embedding.output, attention.output])
    words, attended = inner.predict(np.array([[3, 4, 5, 6, 7, 8]], dtype=np.int32), verbose=0)
    np.testing.assert_allclose(attended, words, rtol=1e-6)  # every weight on the word itself
    whole = model_lib.build(vocab_size=30, embedding_dim=4, input_len=6, hidden=3, n_labels=2)
    assert whole.get_layer("attention").attention_width is None


def test_unfreezing_keeps_the_weights_and_trains_the_embedding() -> None:
    embeddings = np.random.RandomState(0).rand(30, 4).astype(np.float32)
    network = model_lib.build(
        vocab_size=30,
        embedding_dim=4,
        input_len=6,
        hidden=3,
        n_labels=2,
        embeddings=embeddings,
        trainable_embeddings=False,
    )
    before = network.get_weights()
    model_lib.unfreeze_embedding(network, 0.01)
    for old, new in zip(before, network.get_weights(), strict=True):  # same order, same values
        np.testing.assert_array_equal(old, new)
    assert float(network.optimizer.learning_rate) == pytest.approx(0.01)
    tokens = np.random.RandomState(1).randint(1, 30, (16, 6)).astype(np.int32)
    network.fit(tokens, np.arange(16) % 2, epochs=1, verbose=0)
    assert not np.allclose(network.get_layer("embedding").get_weights()[0], embeddings)


def test_exported_signature_matches_the_keras_model(tmp_path: Path) -> None:
    """The export run as the image serves it (a session of its own, TF Serving's way), not through Keras."""
    network = model_lib.build(vocab_size=30, embedding_dim=4, input_len=6, hidden=3, n_labels=2)
    tokens = np.random.RandomState(1).randint(0, 30, (5, 6)).astype(np.int32)
    model_lib.export(network, tmp_path / "1", input_len=6)
    line, batched = np.arange(5, dtype=np.int32), np.ones(5, dtype=np.int32)
    out = models.load("model", 1, tmp_path / "1").run(None, {TOKENS: tokens, LINE: line, BATCHED: batched})
    np.testing.assert_allclose(out[PROBABILITIES], network.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[LINE], line)  # passed through, so the answer's layout can be rebuilt
    np.testing.assert_array_equal(out[BATCHED], batched)


def test_tokenizer_and_embeddings_are_deterministic() -> None:
    texts = ["電波が悪い", "金閣寺に行った", "ラーメンがおいしい", "サッカーの試合"] * 20
    first = tokenizers.train_text_model(texts, vocab_size=60, dim=8, seed=1)
    second = tokenizers.train_text_model(texts, vocab_size=60, dim=8, seed=1)
    assert first.tokenizer == second.tokenizer
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    processor = first.encoder.processor
    assert first.embeddings.shape == (processor.get_piece_size(), 8)
    assert not first.embeddings[PAD_ID].any() and processor.id_to_piece(PAD_ID) == "<pad>"


def test_too_small_vocab_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="vocab-size 16"):
        tokenizers.train_tokenizer(["".join(chr(0x4E00 + i) for i in range(200))], vocab_size=16, seed=0)
