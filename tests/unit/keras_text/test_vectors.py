"""The chiVe table: spaCy's string hash, the extraction from a wheel, and the table `make chive` extracted."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import msgpack
import numpy as np
import pytest

from keras_text.artifact.text_pipeline import PAD_ID, UNK_ID, SudachiEncoder, encode
from keras_text.text import tokenizers, vectors

# spaCy's documentation of StringStore: nlp.vocab.strings["coffee"] == 3197928453018144401.
COFFEE_KEY = 3197928453018144401
KNBC_TRAIN = Path(__file__).resolve().parents[3] / "datasets/knbc/train/features.csv"


def test_string_keys_are_spacys_hashes() -> None:
    assert vectors.string_keys(["coffee"]) == [COFFEE_KEY]
    assert len(set(vectors.string_keys(["coffee", "Coffee", "珈琲", ""]))) == 4


def _wheel(path: Path, strings: list[str], key2row: dict[int, int], rows: int) -> Path:
    table = io.BytesIO()
    np.save(table, np.arange(rows * 3, dtype=np.float32).reshape(rows, 3))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ja_ginza/ja_ginza-9.9.9/vocab/vectors", table.getvalue())
        archive.writestr("ja_ginza/ja_ginza-9.9.9/vocab/key2row", msgpack.packb(key2row))
        archive.writestr("ja_ginza/ja_ginza-9.9.9/vocab/strings.json", json.dumps(strings))
        archive.writestr("ja_ginza/ja_ginza-9.9.9/parser/model", b"not wanted")
    return path


def test_extract_writes_words_vectors_and_notices(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "ja_ginza-9.9.9-py3-none-any.whl", ["tea", "coffee"], {COFFEE_KEY: 0}, rows=1)
    notice = tmp_path / "NOTICE"
    notice.write_text("chiVe: Apache-2.0\n")
    (tmp_path / "table").mkdir()
    (tmp_path / "table/stale.txt").write_text("from an older extraction")
    summary = vectors.extract(wheel, tmp_path / "table", [notice])
    assert summary["words"] == 1 and summary["keys_without_string"] == 0 and summary["dim"] == 3
    assert sorted(p.name for p in (tmp_path / "table").iterdir()) == [
        "NOTICE",
        "source.json",
        "vectors.npy",
        "words.tsv",
    ]
    assert np.load(tmp_path / "table/vectors.npy").dtype == np.float16  # half the bytes on disk
    table = vectors.load(tmp_path / "table")
    assert table.words == {"coffee": 0} and table.vectors.tolist() == [[0.0, 1.0, 2.0]]
    assert table.vectors.dtype == np.float32
    assert vectors.notices(tmp_path / "table") == [tmp_path / "table/NOTICE"]


def test_extract_refuses_keys_that_are_not_the_strings_hashes(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", ["tea", "coffee"], {COFFEE_KEY: 0, 12345: 1}, rows=2)
    with pytest.raises(ValueError, match="1 of 2 rows have a word"):
        vectors.extract(wheel, tmp_path / "table")
    assert not (tmp_path / "table").exists()


def test_pretrained_words_put_padding_and_unknown_first(tmp_path: Path) -> None:
    table = vectors.WordVectors({"京都": 1, "清水寺": 0, "金閣寺": 1}, np.ones((2, 4), dtype=np.float32) * [[1], [2]])
    model = tokenizers.pretrained_words(table, ("normalized",))
    assert model.embeddings.shape == (4, 4) and not model.embeddings[[PAD_ID, UNK_ID]].any()
    assert model.encoder.words == {"清水寺": 2, "京都": 3, "金閣寺": 3}
    np.testing.assert_array_equal(model.embeddings[model.encoder.words["京都"]], table.vectors[1])


# ---- the real table (make chive) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chive(chive_dir: Path) -> vectors.WordVectors:
    return vectors.load(chive_dir)


def test_the_chive_table_is_complete(chive: vectors.WordVectors, chive_dir: Path) -> None:
    assert chive.vectors.shape == (20_000, 300) and chive.vectors.dtype == np.float32
    assert len(chive.words) > 480_000 and len(set(chive.words.values())) == 20_000
    assert {p.name for p in vectors.notices(chive_dir)} == {"NOTICE", "LICENSE-Apache-2.0.txt"}


def test_chive_words_land_on_their_own_vectors(chive: vectors.WordVectors) -> None:
    """A wrong hash would scatter words over unrelated rows: related words would not be near each other."""

    def similarity(a: str, b: str) -> float:
        x, y = chive.vectors[chive.words[a]], chive.vectors[chive.words[b]]
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    assert chive.words["蹴球"] == chive.words["サッカー"]  # keyed to one normalized form
    assert similarity("野球", "サッカー") > similarity("野球", "ラーメン") + 0.3
    assert similarity("京都", "奈良") > similarity("京都", "電話") + 0.3


def test_sudachi_normalized_forms_find_chive_vectors_for_knbc(chive: vectors.WordVectors) -> None:
    with KNBC_TRAIN.open(encoding="utf-8") as handle:
        texts = [row["feature"] for row in csv.DictReader(handle)]
    model = tokenizers.pretrained_words(chive, ("normalized",))
    x = encode(model.encoder, texts, 200)
    kept = x[x != PAD_ID]
    assert kept.size > 60_000
    assert np.mean(kept == UNK_ID) < 0.03  # 2.4 % of the tokens have no vector
    surface = encode(SudachiEncoder(model.encoder.words, ("surface",)), texts, 200)
    assert np.mean(surface[surface != PAD_ID] == UNK_ID) > 0.10  # surface forms miss far more
