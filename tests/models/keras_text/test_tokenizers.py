"""The other tokenizers: SentencePiece + word2vec trained in the job, a user's own pieces, missing vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_text.artifact.text_pipeline import SentencePieceEncoder
from keras_text.backend import tf
from keras_text.text import tokenizers
from keras_text.training.job import VECTORS_ENV, train
from sm_contract.training import run_training
from utils import keras_model
from utils.data import write_opt_ml


def _code_files(root: Path) -> set[str]:
    return {p.name for p in (root / "model/code").iterdir()}


def _embedding(root: Path) -> tf.Variable:
    loaded = tf.saved_model.load(str(root / "model/1"))
    (embedding,) = [v for v in loaded.model_weights if "embedding" in v.name]
    return embedding


def test_sentencepiece_trains_and_serves(sentencepiece_root: Path, serve) -> None:
    assert _code_files(sentencepiece_root) == {
        "inference.py",
        "text_pipeline.py",
        "tokenizer.json",
        "tokenizer.model",
        "labels.json",
        "requirements.txt",
    }
    pins = (sentencepiece_root / "model/code/requirements.txt").read_text().splitlines()
    assert pins[0] == "numpy" and pins[1].startswith("sentencepiece==") and len(pins) == 2
    assert _embedding(sentencepiece_root).shape[1] == 32
    metrics = json.loads((sentencepiece_root / "output/data/test_metrics.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"] > 0.45  # the majority class is 36 %
    with serve(sentencepiece_root) as client:
        answer = client.post("/invocations", json={"q": "電波が悪い"}).json()
    assert len(answer) == 4 and answer[0]["prob"] >= answer[-1]["prob"]


def test_embeddings_channel_brings_its_own_pieces(tmp_path: Path, run_job) -> None:
    texts = keras_model.channels()["train"]["features.csv"].decode().splitlines()[1:]
    model = tokenizers.train_tokenizer(texts, vocab_size=2000, seed=0)
    pieces = SentencePieceEncoder(model).processor
    rng = np.random.RandomState(0)
    rows = [f"{pieces.id_to_piece(k)} " + " ".join(f"{v:.4f}" for v in rng.rand(8)) for k in range(2, 300)]
    channel = {"tokenizer.model": model, "vectors.txt": "\n".join([f"{len(rows)} 8", *rows]).encode()}
    hps = {**keras_model.SMALL_HYPERPARAMETERS, "epochs": "1"}
    root = write_opt_ml(tmp_path / "opt_ml", hps, {**keras_model.small_channels(), "embeddings": channel})
    assert run_job(root) == 0, (root / "output/failure").read_text()
    assert (root / "model/code/tokenizer.model").read_bytes() == model
    embedding = _embedding(root)
    assert embedding.shape == (pieces.get_piece_size(), 8)
    piece = pieces.id_to_piece(5)  # a frequent piece: a trainable row would have moved in one epoch
    expected = next(r for r in rows if r.startswith(piece + " ")).split()[1:]
    np.testing.assert_allclose(embedding.numpy()[5], np.asarray(expected, dtype=np.float32))


def test_missing_vectors_fail_the_default_job_with_a_reason(tmp_path: Path) -> None:
    root = write_opt_ml(tmp_path / "opt_ml", keras_model.HYPERPARAMETERS, keras_model.channels())
    empty = tmp_path / "no_vectors"
    empty.mkdir()
    assert run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(empty)}) == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith(f"the pretrained word vectors are missing from {empty}")
    assert "'tokenizer' sentencepiece" in failure


def test_word_forms_reach_the_served_model(tmp_path: Path, run_job) -> None:
    hps = {**keras_model.SMALL_HYPERPARAMETERS, "epochs": "1", "word-forms": "normalized,surface"}
    root = write_opt_ml(tmp_path / "opt_ml", hps, keras_model.small_channels())
    assert run_job(root) == 0, (root / "output/failure").read_text()
    settings = json.loads((root / "model/code/tokenizer.json").read_text())
    assert settings["forms"] == ["normalized", "surface"]
