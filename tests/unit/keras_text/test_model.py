"""The network of the article, its export, and the tokenizer/embedding training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_text import model as model_lib
from keras_text.artifact.inference import BATCHED, LINE, PAD_ID, PROBABILITIES, TOKENS
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
