"""The shared tokenisation: Sudachi words and SentencePiece pieces to ids, the word table, save and load."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from keras_text.artifact import text_pipeline
from keras_text.artifact.text_pipeline import PAD_ID, UNK_ID, SentencePieceEncoder, SudachiEncoder
from keras_text.text import tokenizers

# 携帯 is the normalized form of ケータイ; だ of で; ます of まし; 変える of 変え.
SENTENCE = "ケータイの電波が悪いので、ドコモに変えました！"
WORDS = {"携帯": 2, "の": 3, "電波": 4, "が": 5, "悪い": 6, "ドコモ": 7, "に": 8, "変える": 9, "ます": 10, "た": 11}


def test_word_table_round_trip_keeps_every_word() -> None:
    words = {"京都": 5, "清水寺": 5, "a b": 2, "é": 3}
    data = text_pipeline.format_words(words)
    assert data.decode().splitlines()[0] == "a b\t2"  # by id, then word
    assert text_pipeline.parse_words(data) == words


@pytest.mark.parametrize("word", ["tab\there", "line\nbreak", ""])
def test_word_table_refuses_words_it_could_not_read_back(word: str) -> None:
    with pytest.raises(ValueError, match="tab or line break"):
        text_pipeline.format_words({"ok": 2, word: 3})


@pytest.mark.parametrize("data", [b"a\t1\nb\n", b"a\tone\n", b"\t1\n"])
def test_word_table_rejects_malformed_lines(data: bytes) -> None:
    with pytest.raises(ValueError, match="word<TAB>id"):
        text_pipeline.parse_words(data)


def test_sudachi_looks_up_normalized_forms() -> None:
    encoder = SudachiEncoder(WORDS)
    assert encoder.tokens(SENTENCE)[:4] == ["携帯", "の", "電波", "が"]
    ids = encoder.ids(SENTENCE)
    assert ids[:5] == [2, 3, 4, 5, 6]
    assert ids.count(UNK_ID) == 3  # だ, 、 and ! are not in the table


def test_sudachi_falls_back_to_the_next_form() -> None:
    words = {"ケータイ": 2}
    assert SudachiEncoder(words).ids("ケータイ") == [UNK_ID]
    assert SudachiEncoder(words, ("normalized", "surface")).ids("ケータイ") == [2]
    with pytest.raises(ValueError, match="word forms"):
        SudachiEncoder(words, ("reading",))


def test_sudachi_drops_whitespace_and_survives_overlong_texts() -> None:
    encoder = SudachiEncoder(WORDS)
    assert encoder.ids("電波 　が") == [4, 5]
    long_text = "電波が悪い。" * 5000  # 90,000 bytes; Sudachi alone refuses more than 49,149
    assert len(encoder.ids(long_text)) > 1000


def test_sudachi_encodes_from_many_threads_at_once() -> None:
    """One SudachiPy tokenizer refuses concurrent calls; servers predict in threads."""
    encoder = SudachiEncoder(WORDS)
    texts = [SENTENCE * (10 + i % 20) for i in range(200)]  # long enough for calls to overlap
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(encoder.ids, texts))
    assert parallel == [encoder.ids(t) for t in texts]


def test_encode_pads_on_the_left_and_keeps_the_first_ids() -> None:
    encoder = SudachiEncoder(WORDS)
    x = text_pipeline.encode(encoder, ["電波", SENTENCE, ""], 6)
    assert x.dtype == np.int32 and x.shape == (3, 6)
    assert x[0].tolist() == [PAD_ID] * 5 + [4]
    assert x[1].tolist() == encoder.ids(SENTENCE)[:6]
    assert not x[2].any()


def test_sudachi_save_and_load(tmp_path: Path) -> None:
    encoder = SudachiEncoder(WORDS, ("normalized", "surface"))
    encoder.save(tmp_path)
    settings = json.loads((tmp_path / text_pipeline.SETTINGS_FILE).read_text())
    assert settings == {"kind": "sudachi", "split_mode": "C", "dictionary": "small", "forms": ["normalized", "surface"]}
    loaded = text_pipeline.load(tmp_path)
    assert isinstance(loaded, SudachiEncoder) and loaded.forms == ("normalized", "surface")
    assert loaded.dictionary == "small" and loaded.ids(SENTENCE) == encoder.ids(SENTENCE)


@pytest.mark.parametrize("recorded", [{"dictionary": "core"}, {}])  # older models: core, or not recorded at all
def test_sudachi_load_names_a_dictionary_that_is_not_installed(tmp_path: Path, recorded: dict[str, str]) -> None:
    """A model trained with the core dictionary needs that package: the image has the small one only."""
    SudachiEncoder(WORDS).save(tmp_path)
    settings = json.loads((tmp_path / text_pipeline.SETTINGS_FILE).read_text())
    del settings["dictionary"]
    (tmp_path / text_pipeline.SETTINGS_FILE).write_text(json.dumps(settings | recorded))
    with pytest.raises(ValueError, match=r"Sudachi's 'core' dictionary, which is not installed; add sudachidict-core"):
        text_pipeline.load(tmp_path)


def test_sudachi_load_refuses_an_unknown_dictionary(tmp_path: Path) -> None:
    SudachiEncoder(WORDS).save(tmp_path)
    settings = json.loads((tmp_path / text_pipeline.SETTINGS_FILE).read_text())
    (tmp_path / text_pipeline.SETTINGS_FILE).write_text(json.dumps({**settings, "dictionary": "os.path"}))
    with pytest.raises(ValueError, match=r"unknown Sudachi dictionary 'os\.path'"):
        text_pipeline.load(tmp_path)


def test_sentencepiece_save_and_load(tmp_path: Path) -> None:
    texts = ["電波が悪い", "金閣寺に行った", "ラーメンがおいしい"] * 30
    model = tokenizers.train_tokenizer(texts, vocab_size=60, seed=0)
    encoder = SentencePieceEncoder(model)
    encoder.save(tmp_path)
    assert (tmp_path / text_pipeline.SENTENCEPIECE_FILE).read_bytes() == model
    loaded = text_pipeline.load(tmp_path)
    assert loaded.kind == "sentencepiece"
    assert loaded.ids("電波が悪い") == encoder.ids("電波が悪い") and UNK_ID not in encoder.ids("電波が悪い")
    assert "".join(loaded.tokens("電波が悪い")).replace("▁", "") == "電波が悪い"


def test_load_rejects_an_unknown_kind(tmp_path: Path) -> None:
    (tmp_path / text_pipeline.SETTINGS_FILE).write_text('{"kind": "mecab"}')
    with pytest.raises(ValueError, match="unknown tokenizer kind 'mecab'"):
        text_pipeline.load(tmp_path)
