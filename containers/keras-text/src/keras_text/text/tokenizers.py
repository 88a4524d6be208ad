"""Tokenizer and embeddings: Sudachi words with pretrained vectors, or SentencePiece pieces with word2vec.

The default looks Sudachi words up in a pretrained table (``vectors``: chiVe). The alternative trains a
SentencePiece model and word2vec vectors on ``train`` in the job, or takes both from the ``embeddings``
channel. Training is deterministic given the seed: SentencePiece trains single-threaded with a fixed
generator seed, and word2vec runs one worker with a stable hash (gensim's default, Python's ``hash``, changes
per process).
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import sentencepiece as spm

from keras_text.artifact import text_pipeline
from keras_text.artifact.text_pipeline import PAD_ID, SENTENCEPIECE_FILE, SUDACHI, UNK_ID
from keras_text.text import vectors
from sm_contract.errors import ConfigurationError, DataError

logger = logging.getLogger(__name__)

TOKENIZER_FILE = SENTENCEPIECE_FILE  # the embeddings channel's SentencePiece model
VECTOR_FILES = ("vectors.txt", "vectors.vec", "vectors.bin")  # word2vec text or binary format
W2V_WINDOW = 5
W2V_EPOCHS = 10
CHARACTER_COVERAGE = 0.9995  # the usual setting for Japanese (rarer characters become <unk>)


@dataclass(frozen=True)
class TextModel:
    """The tokenizer (``text_pipeline``) and the Embedding's initial matrix, row k = id k."""

    encoder: text_pipeline.Encoder
    embeddings: np.ndarray  # float32 (vocab, dim)

    @property
    def kind(self) -> str:
        return self.encoder.kind

    @cached_property
    def tokenizer(self) -> bytes:
        """The tokenizer in one file, for checkpoints: the SentencePiece model, or Sudachi's word table."""
        return self.encoder.to_bytes()


def restore(kind: str, tokenizer: bytes, embeddings: np.ndarray, forms: Sequence[str]) -> TextModel:
    """The ``TextModel`` whose ``tokenizer`` and ``embeddings`` a checkpoint holds."""
    if kind == SUDACHI:
        return TextModel(text_pipeline.SudachiEncoder(text_pipeline.parse_words(tokenizer), forms), embeddings)
    return TextModel(text_pipeline.SentencePieceEncoder(tokenizer), embeddings)


def pretrained_words(table: vectors.WordVectors, forms: Sequence[str]) -> TextModel:
    """Sudachi words with the table's vectors: id = row + 2, after padding (0) and unknown words (1), both zero."""
    offset = UNK_ID + 1
    ids = {word: row + offset for word, row in table.words.items()}
    matrix = np.zeros((len(table.vectors) + offset, table.dim), dtype=np.float32)
    matrix[offset:] = table.vectors
    logger.info("pretrained words: %d words, %d vectors of dim %d", len(ids), len(table.vectors), table.dim)
    return TextModel(text_pipeline.SudachiEncoder(ids, forms), matrix)


def train_tokenizer(
    texts: Sequence[str], vocab_size: int, seed: int, character_coverage: float = CHARACTER_COVERAGE
) -> bytes:
    """A unigram SentencePiece model; ``vocab_size`` is an upper bound for small corpora."""
    buffer = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        _train_sentencepiece(texts, vocab_size, buffer, character_coverage)
    except RuntimeError as exc:
        # e.g. "Vocabulary size is smaller than required_chars. 1000 vs 1198."
        message = str(exc).split("] ", 1)[-1]
        raise ConfigurationError(f"SentencePiece cannot train with vocab-size {vocab_size}: {message}") from None
    return buffer.getvalue()


def _train_sentencepiece(texts: Sequence[str], vocab_size: int, buffer: io.BytesIO, character_coverage: float) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=character_coverage,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=-1,
        eos_id=-1,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(
    pieces: Sequence[Sequence[str]], dim: int, seed: int, window: int = W2V_WINDOW, epochs: int = W2V_EPOCHS
) -> dict[str, np.ndarray]:
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=[list(p) for p in pieces],
        vector_size=dim,
        window=window,
        min_count=1,
        sg=1,
        workers=1,
        seed=seed,
        epochs=epochs,
        hashfxn=_stable_hash,
    )
    return {word: model.wv[word] for word in model.wv.index_to_key}


def embedding_matrix(
    processor: spm.SentencePieceProcessor, vectors: dict[str, np.ndarray], dim: int, seed: int
) -> np.ndarray:
    """Row k holds piece k's vector; pieces without one get small random values, padding gets zeros."""
    rng = np.random.RandomState(seed)
    size = processor.get_piece_size()
    matrix = rng.uniform(-0.05, 0.05, (size, dim)).astype(np.float32)
    found = 0
    for k in range(size):
        vector = vectors.get(processor.id_to_piece(k))
        if vector is not None:
            matrix[k] = vector
            found += 1
    matrix[PAD_ID] = 0.0
    logger.info("embeddings: %d of %d pieces have a word2vec vector (dim %d)", found, size, dim)
    return matrix


def train_text_model(
    texts: Sequence[str],
    vocab_size: int,
    dim: int,
    seed: int,
    *,
    character_coverage: float = CHARACTER_COVERAGE,
    w2v_window: int = W2V_WINDOW,
    w2v_epochs: int = W2V_EPOCHS,
) -> TextModel:
    tokenizer = train_tokenizer(texts, vocab_size, seed, character_coverage)
    encoder = text_pipeline.SentencePieceEncoder(tokenizer)
    processor = encoder.processor
    pieces = [processor.encode(t, out_type=str) for t in texts]
    vectors = train_word2vec(pieces, dim, seed, w2v_window, w2v_epochs)
    logger.info("tokenizer: %d pieces trained on %d texts", processor.get_piece_size(), len(texts))
    return TextModel(encoder, embedding_matrix(processor, vectors, dim, seed))


def load_pretrained(folder: Path, seed: int) -> TextModel:
    """The ``embeddings`` channel: ``tokenizer.model`` (SentencePiece) plus word2vec-format vectors."""
    from gensim.models import KeyedVectors

    tokenizer_path = folder / TOKENIZER_FILE
    vector_paths = [folder / name for name in VECTOR_FILES if (folder / name).is_file()]
    if not tokenizer_path.is_file() or not vector_paths:
        present = ", ".join(sorted(p.name for p in folder.iterdir())) or "no files"
        raise DataError(
            f"channel 'embeddings' needs '{TOKENIZER_FILE}' and one of {', '.join(VECTOR_FILES)} (holds: {present})"
        )
    tokenizer = tokenizer_path.read_bytes()
    try:
        encoder = text_pipeline.SentencePieceEncoder(tokenizer)
    except (RuntimeError, OSError) as exc:
        raise DataError(f"channel 'embeddings' file '{TOKENIZER_FILE}' is not a SentencePiece model: {exc}") from None
    path = vector_paths[0]
    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=path.suffix == ".bin", unicode_errors="replace")
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"channel 'embeddings' file '{path.name}' is not in word2vec format: {exc}") from None
    vectors = {word: keyed[word] for word in keyed.index_to_key}
    logger.info(
        "pretrained: %d pieces, %d vectors of dim %d",
        encoder.processor.get_piece_size(),
        len(vectors),
        keyed.vector_size,
    )
    return TextModel(encoder, embedding_matrix(encoder.processor, vectors, keyed.vector_size, seed))
