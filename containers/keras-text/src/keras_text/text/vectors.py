"""Pretrained word vectors: the chiVe table taken out of the ja-ginza wheel, and the reader of that table.

The wheel keeps spaCy's layout under ``ja_ginza/<name>/vocab/``: ``vectors`` (a NumPy array, one row per
vector), ``key2row`` (a msgpack map, key -> row) and ``strings.json`` (the strings those keys stand for). A
string's key is spaCy's string hash, MurmurHash64A with seed 1 of its UTF-8 bytes, computed here by the
``murmurhash`` package that spaCy itself calls. Extraction (the image's build stage, ``make`` on the host)
needs msgpack and murmurhash besides numpy; the table it writes needs numpy only:

    vectors.npy   float16 (rows, dim): chiVe's float32 values rounded to half precision, half the bytes (12 MB
                  for 20,000 x 300; every row keeps a cosine of 0.99999 or more to its original); ``load`` returns
                  float32
    words.tsv     "word<TAB>row" lines (``text_pipeline.format_words``): many words share a row
    source.json   the wheel's name and SHA-256, and the counts

    python -m keras_text.text.vectors --wheel ja_ginza-5.3.0-py3-none-any.whl --out /opt/keras-text/chive
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import io
import json
import logging
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_text.artifact.text_pipeline import format_words, parse_words

logger = logging.getLogger(__name__)

VECTORS_FILE, WORDS_FILE, SOURCE_FILE = "vectors.npy", "words.tsv", "source.json"
STORED_DTYPE = np.float16  # how vectors.npy keeps the vectors (models get them as float32)
NOTICE_PREFIXES = ("NOTICE", "LICENSE")
SPACY_HASH_SEED = 1
# Keys of key2row without a string in strings.json (spaCy drops a few); more than this means a wrong hash.
MAX_UNMATCHED_KEYS = 100


@dataclass(frozen=True)
class WordVectors:
    words: dict[str, int]  # word -> row of ``vectors``
    vectors: np.ndarray  # float32 (rows, dim)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load(folder: Path) -> WordVectors:
    """The table ``extract`` wrote."""
    vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
    words = parse_words((folder / WORDS_FILE).read_bytes())
    if vectors.ndim != 2 or max(words.values(), default=-1) >= len(vectors):
        raise ValueError(f"{folder}: {WORDS_FILE} names rows that {VECTORS_FILE} {vectors.shape} does not have")
    return WordVectors(words, vectors.astype(np.float32, copy=False))


def notices(folder: Path) -> list[Path]:
    """The licence files that travel with the table (and with every model that carries its vectors)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith(NOTICE_PREFIXES))


def murmurhash64a() -> Callable[[bytes, int], int]:
    """``murmurhash``'s MurmurHash64A (the C function spaCy's ``hash_string`` calls), through its Cython C-API.

    The package exports it to other Cython modules only (``__pyx_capi__``), as a capsule named by its C type.
    """
    from murmurhash import mrmr

    capsule = mrmr.__pyx_capi__["hash64"]
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype, api.PyCapsule_GetName.argtypes = ctypes.c_char_p, [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    name = api.PyCapsule_GetName(capsule)
    if name != b"uint64_t (void *, int, uint64_t)":
        raise RuntimeError(f"murmurhash's hash64 has an unexpected C type: {name!r}")
    pointer = api.PyCapsule_GetPointer(capsule, name)
    function = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64)(pointer)
    return lambda data, seed: int(function(data, len(data), seed))


def string_keys(strings: list[str]) -> list[int]:
    """spaCy's keys (``StringStore`` hashes) of the strings."""
    hash64 = murmurhash64a()
    return [hash64(s.encode("utf-8"), SPACY_HASH_SEED) for s in strings]


def _member(archive: zipfile.ZipFile, suffix: str) -> bytes:
    names = [n for n in archive.namelist() if n.endswith(suffix)]
    if len(names) != 1:
        raise ValueError(f"{archive.filename}: expected one member ending in {suffix!r}, found {names}")
    return archive.read(names[0])


def table_from_wheel(wheel: Path) -> tuple[WordVectors, dict[str, Any]]:
    """Word -> row for every string of the wheel's vocabulary whose key has a vector, and the vectors."""
    import msgpack

    with zipfile.ZipFile(wheel) as archive:
        vectors = np.load(io.BytesIO(_member(archive, "/vocab/vectors")), allow_pickle=False)
        key2row = msgpack.unpackb(_member(archive, "/vocab/key2row"), strict_map_key=False)
        strings = json.loads(_member(archive, "/vocab/strings.json"))
    words = {s: key2row[k] for s, k in zip(strings, string_keys(strings), strict=True) if k in key2row}
    unmatched = len(key2row) - len(words)
    if unmatched > MAX_UNMATCHED_KEYS or len(set(words.values())) != len(vectors):
        raise ValueError(
            f"{wheel.name}: {unmatched} of {len(key2row)} keys have no string, {len(set(words.values()))} of "
            f"{len(vectors)} rows have a word: not spaCy's string hashes?"
        )
    summary = {
        "wheel": wheel.name,
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "rows": int(vectors.shape[0]),
        "dim": int(vectors.shape[1]),
        "keys": len(key2row),
        "words": len(words),
        "keys_without_string": unmatched,
    }
    return WordVectors(words, vectors.astype(np.float32)), summary


def extract(wheel: Path, out: Path, notice_files: Sequence[Path] = ()) -> dict[str, Any]:
    """Write the table of ``wheel`` and copies of ``notice_files`` to ``out``.

    ``out`` is replaced as a whole: a partial table never stays behind.
    """
    bad = [p.name for p in notice_files if not p.name.startswith(NOTICE_PREFIXES)]
    if bad:
        raise ValueError(f"notice files must be named {' or '.join(NOTICE_PREFIXES)}*: {bad}")
    table, summary = table_from_wheel(wheel)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    np.save(staging / VECTORS_FILE, table.vectors.astype(STORED_DTYPE), allow_pickle=False)
    (staging / WORDS_FILE).write_bytes(format_words(table.words))
    (staging / SOURCE_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    for notice in notice_files:
        shutil.copyfile(notice, staging / notice.name)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description="Extract the chiVe word vectors of a ja-ginza wheel.")
    parser.add_argument("--wheel", type=Path, required=True, help="ja_ginza-*.whl")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the table to (replaced)")
    parser.add_argument("--notice", type=Path, action="append", default=[], help="a licence file to add")
    args = parser.parse_args(argv)
    summary = extract(args.wheel, args.out, args.notice)
    logger.info("%s -> %s: %s", args.wheel.name, args.out, json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
