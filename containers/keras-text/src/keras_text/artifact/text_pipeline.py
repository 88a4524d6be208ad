"""Text -> token ids: the one tokenisation shared by training, our server and the TF Serving handlers.

Training copies this file next to ``inference.py`` into the model's ``code/``, with the files ``save`` writes,
so a model carries the exact tokenisation it was trained with. It needs the standard library and numpy, plus
the tokenizer's own package, imported only when that tokenizer is used: sudachipy and the Sudachi dictionary
that ``tokenizer.json`` names (sudachidict-small) for Sudachi words, sentencepiece for SentencePiece pieces.

Ids 0 and 1 are padding and unknown words in both kinds.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SUDACHI, SENTENCEPIECE = "sudachi", "sentencepiece"
PAD_ID, UNK_ID = 0, 1
SETTINGS_FILE = "tokenizer.json"  # {"kind": ..., plus the kind's settings}
WORDS_FILE = "words.tsv"  # Sudachi: one "word<TAB>id" line per word
SENTENCEPIECE_FILE = "tokenizer.model"  # SentencePiece: the serialised model
# Sudachi rejects inputs over 49,149 bytes (4 bytes per character at most); a text's first ids come from its
# first characters, and far fewer than this many ids are ever kept.
MAX_CHARS = 12_000
# Sudachi: split mode C (the longest units) and the forms looked up, in order, until one has an id.
SPLIT_MODE = "C"
DEFAULT_FORMS = ("normalized",)
FORMS = ("normalized", "surface", "dictionary")
# Sudachi: the dictionary new models use (the package sudachidict-small); tokenizer.json records it, and a model
# is served with the one it names (models of earlier versions of the image name core: sudachidict-core).
DICTIONARY = "small"
DICTIONARIES = ("small", "core", "full")  # SudachiDict's editions, each the package sudachidict-<edition>


class Encoder(Protocol):
    kind: str

    def ids(self, text: str) -> list[int]: ...

    def tokens(self, text: str) -> list[str]: ...

    def to_bytes(self) -> bytes: ...

    def save(self, folder: Path) -> None: ...


def format_words(words: Mapping[str, int]) -> bytes:
    """``word<TAB>id`` lines, by id then word (UTF-8); words holding a tab or a line break are refused."""
    bad = [w for w in words if not w or any(c in w for c in "\t\n\r")]
    if bad:
        raise ValueError(f"{len(bad)} word(s) are empty or hold a tab or line break, e.g. {bad[0]!r}")
    ordered = sorted(words.items(), key=lambda item: (item[1], item[0]))
    return "".join(f"{word}\t{index}\n" for word, index in ordered).encode("utf-8")


def parse_words(data: bytes) -> dict[str, int]:
    """The inverse of ``format_words``.

    Words hold neither tabs nor line breaks, so the file splits on both into word, id, word, id, ... at once
    (a model's table has about 480,000 words: a line-by-line parse would add a second to every start-up).
    """
    fields = data.decode("utf-8").replace("\t", "\n").split("\n")
    if fields[-1] == "":
        fields.pop()
    if len(fields) % 2 or not all(fields[0::2]):
        raise ValueError("not a table of 'word<TAB>id' lines")
    try:
        return dict(zip(fields[0::2], map(int, fields[1::2]), strict=True))
    except ValueError:
        raise ValueError("not a table of 'word<TAB>id' lines: an id is not a number") from None


class SudachiEncoder:
    """SudachiPy words (split mode C, Sudachi's ``dictionary``), each looked up by its forms in turn.

    A SudachiPy tokenizer serves one thread at a time, so each thread gets its own (servers predict in threads).
    Whitespace morphemes are dropped; a word none of whose forms is in the table is ``UNK_ID``.
    """

    kind = SUDACHI

    def __init__(
        self, words: Mapping[str, int], forms: Sequence[str] = DEFAULT_FORMS, dictionary: str = DICTIONARY
    ) -> None:
        unknown = [f for f in forms if f not in FORMS]
        if not forms or unknown:
            raise ValueError(f"word forms must be some of {', '.join(FORMS)}; got {list(forms)}")
        self.words, self.forms, self.dictionary = dict(words), tuple(forms), dictionary
        self._local = threading.local()
        self._lock = threading.Lock()
        self._dictionary: Any = None

    def _tokenizer(self) -> Any:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            from sudachipy import Dictionary, SplitMode

            with self._lock:
                if self._dictionary is None:
                    self._dictionary = Dictionary(dict=self.dictionary)
                tokenizer = self._dictionary.tokenizer(mode=getattr(SplitMode, SPLIT_MODE))
            self._local.tokenizer = tokenizer
        return tokenizer

    def _morphemes(self, text: str) -> list[Any]:
        return [m for m in self._tokenizer().tokenize(text[:MAX_CHARS]) if m.surface().strip()]

    def _forms(self, morpheme: Any) -> Iterable[str]:
        for form in self.forms:
            if form == "normalized":
                yield morpheme.normalized_form()
            elif form == "surface":
                yield morpheme.surface()
            else:
                yield morpheme.dictionary_form()

    def tokens(self, text: str) -> list[str]:
        """The normalized forms of the text's words."""
        return [m.normalized_form() for m in self._morphemes(text)]

    def ids(self, text: str) -> list[int]:
        out = []
        for morpheme in self._morphemes(text):
            found = next((self.words[f] for f in self._forms(morpheme) if f in self.words), UNK_ID)
            out.append(found)
        return out

    def to_bytes(self) -> bytes:
        """The word table (``WORDS_FILE``)."""
        return format_words(self.words)

    def save(self, folder: Path) -> None:
        (folder / WORDS_FILE).write_bytes(self.to_bytes())
        settings = {"kind": self.kind, "split_mode": SPLIT_MODE, "dictionary": self.dictionary}
        _write_settings(folder, {**settings, "forms": list(self.forms)})

    @classmethod
    def load(cls, folder: Path, settings: Mapping[str, Any]) -> SudachiEncoder:
        dictionary = settings.get("dictionary", "core")  # the only one before tokenizer.json named it
        if dictionary not in DICTIONARIES:
            raise ValueError(f"{folder / SETTINGS_FILE}: unknown Sudachi dictionary {dictionary!r}")
        if importlib.util.find_spec(f"sudachidict_{dictionary}") is None:  # SudachiPy would fail at the first text
            raise ValueError(
                f"{folder / SETTINGS_FILE}: the model splits words with Sudachi's {dictionary!r} dictionary, which "
                f"is not installed; add sudachidict-{dictionary} to code/requirements.txt"
            )
        words = parse_words((folder / WORDS_FILE).read_bytes())
        return cls(words, settings.get("forms", DEFAULT_FORMS), dictionary)


class SentencePieceEncoder:
    """SentencePiece pieces; the model's own ids (``<pad>`` 0, ``<unk>`` 1)."""

    kind = SENTENCEPIECE

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self.model = model
        self.processor = spm.SentencePieceProcessor(model_proto=model)

    def tokens(self, text: str) -> list[str]:
        return list(self.processor.encode(text[:MAX_CHARS], out_type=str))

    def ids(self, text: str) -> list[int]:
        return list(self.processor.encode(text[:MAX_CHARS]))

    def to_bytes(self) -> bytes:
        return self.model

    def save(self, folder: Path) -> None:
        (folder / SENTENCEPIECE_FILE).write_bytes(self.model)
        _write_settings(folder, {"kind": self.kind})

    @classmethod
    def load(cls, folder: Path, settings: Mapping[str, Any]) -> SentencePieceEncoder:
        return cls((folder / SENTENCEPIECE_FILE).read_bytes())


def _write_settings(folder: Path, settings: Mapping[str, Any]) -> None:
    (folder / SETTINGS_FILE).write_text(json.dumps(settings, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load(folder: Path) -> Encoder:
    """The encoder ``save`` wrote into ``folder``."""
    settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
    kinds: dict[str, Any] = {SUDACHI: SudachiEncoder, SENTENCEPIECE: SentencePieceEncoder}
    kind = settings.get("kind")
    if kind not in kinds:
        raise ValueError(f"{folder / SETTINGS_FILE}: unknown tokenizer kind {kind!r}")
    encoder: Encoder = kinds[kind].load(folder, settings)
    return encoder


def pad(sequences: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """Keep each sequence's first ``length`` ids and left-pad it with ``PAD_ID`` (the article's 'pre' padding)."""
    out = np.full((len(sequences), length), PAD_ID, dtype=np.int32)
    for row, ids in enumerate(sequences):
        kept = list(ids)[:length]
        if kept:
            out[row, length - len(kept) :] = kept
    return out


def encode(encoder: Encoder, texts: Sequence[str], length: int) -> np.ndarray:
    """int32 array (len(texts), length) of the texts' ids; an empty text is all padding."""
    return pad([encoder.ids(t) for t in texts], length)
