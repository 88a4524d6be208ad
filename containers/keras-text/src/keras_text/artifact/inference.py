"""Pre- and post-processing of the text classifier, shared by our server and AWS's TF Serving container.

Training copies this very file into ``model/code/inference.py``, next to a copy of ``text_pipeline.py`` (the
tokenisation) and its files. There the TensorFlow Serving container calls ``input_handler``/``output_handler``
around its REST predict call; our own server imports the same functions. It must therefore stay
self-contained: the standard library, numpy and its sibling ``text_pipeline``.

Requests: ``application/json`` ``{"q": "text"}`` (one ranked list), ``{"q": ["a", "b"]}`` or
``{"instances": ["a", "b"]}`` (one ranked list per text); ``application/jsonlines``: one such object per line.
Answers: a ranked list ``[{"label": ..., "prob": ...}, ...]`` per text, most probable first.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # keras_text.artifact.inference
    from . import text_pipeline
else:  # a model's code/inference.py, imported by file path: its own copy of the pipeline sits next to it
    _HERE = str(Path(__file__).resolve().parent)
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    import text_pipeline

JSON = "application/json"
JSONLINES = "application/jsonlines"
REQUEST_TYPES = (JSON, JSONLINES)
BLANK = " \t\r\v\f"  # what a blank line may hold (the server's line rule, sm_contract.codecs)
LABELS_FILE = "labels.json"
PAD_ID = text_pipeline.PAD_ID
pad = text_pipeline.pad
PROB_DECIMALS = 4
# Inputs and outputs of the SavedModel's serving signature. ``line`` and ``batched`` pass through the model
# unchanged, so ``output_handler`` can rebuild the request's shape from TF Serving's response alone.
TOKENS, LINE, BATCHED, PROBABILITIES = "tokens", "line", "batched", "probabilities"


class PayloadError(ValueError):
    """The request is malformed: both servers answer ``status_code`` with this message."""

    status_code = 400


class UnsupportedMediaType(PayloadError):
    status_code = 415


class NotAcceptable(PayloadError):
    status_code = 406


@dataclass(frozen=True)
class Line:
    """One request object: its texts, and whether it asked for a list (``q`` list / ``instances``)."""

    texts: tuple[str, ...]
    batched: bool


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _texts(value: Any, where: str) -> Line:
    if not isinstance(value, dict):
        raise PayloadError(f'{where}: expected a JSON object like {{"q": "text"}}, got {type(value).__name__}')
    if "q" in value:
        key, raw = "q", value["q"]
    elif "instances" in value:
        key, raw = "instances", value["instances"]
    else:
        raise PayloadError(f"{where}: missing key 'q' (a text or a list of texts) or 'instances'")
    batched = isinstance(raw, list)
    items = raw if batched else [raw]
    if key == "instances" and not batched:
        raise PayloadError(f"{where}: 'instances' must be a list of texts")
    if not items:
        raise PayloadError(f"{where}: '{key}' is an empty list")
    for index, item in enumerate(items):
        label = f"{where}: '{key}'" + (f"[{index}]" if batched else "")
        if not isinstance(item, str):
            raise PayloadError(f"{label} must be a string, got {type(item).__name__}")
        if not item.strip():
            raise PayloadError(f"{label} is empty")
    return Line(tuple(items), batched)


def json_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines with their numbers (from 1). Only ``\\n`` ends a line (a ``\\r`` before it is part of
    the line end), as the server counts them; ``str.splitlines`` would also split inside JSON strings, at
    U+2028, U+0085 and the like, which JSON allows there unescaped. A line of spaces, tabs, ``\\r``, ``\\v`` or
    ``\\f`` is blank."""
    return [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip(BLANK)]


def parse_body(body: bytes, content_type: str) -> list[Line]:
    """The request objects of a body: one for JSON, one per non-empty line for JSON lines."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})") from None
    kind = _media_type(content_type) or JSON
    if kind not in REQUEST_TYPES:
        raise UnsupportedMediaType(f"content type {content_type!r} is not supported; use {' or '.join(REQUEST_TYPES)}")
    chunks = [(1, text)] if kind == JSON else json_lines(text)
    if not chunks or not chunks[0][1].strip():
        raise PayloadError("body is empty")
    lines = []
    for number, chunk in chunks:
        where = "body" if kind == JSON else f"line {number}"
        try:
            value = json.loads(chunk)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"{where} is not valid JSON: {exc.msg}") from None
        except RecursionError:
            raise PayloadError(f"{where} is nested too deeply") from None
        except ValueError as exc:  # an integer literal over Python's digit limit
            raise PayloadError(f"{where} is not usable JSON: {exc}") from None
        lines.append(_texts(value, where))
    return lines


class Preprocessor:
    """Token ids of texts (``text_pipeline``), truncated to the first ``input_len`` and left-padded."""

    def __init__(self, tokenizer: text_pipeline.Encoder, labels: Sequence[str], input_len: int) -> None:
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.input_len = input_len

    @classmethod
    def from_dir(cls, code_dir: Path) -> Preprocessor:
        meta = json.loads((code_dir / LABELS_FILE).read_text(encoding="utf-8"))
        return cls(text_pipeline.load(code_dir), meta["labels"], int(meta["input_len"]))

    def pieces(self, text: str) -> list[str]:
        return self.tokenizer.tokens(text)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """int32 array (len(texts), input_len); an empty text is all padding."""
        return text_pipeline.encode(self.tokenizer, texts, self.input_len)

    def rank(self, probabilities: Sequence[float]) -> list[dict[str, Any]]:
        """Every label with its probability, most probable first (ties by label order)."""
        order = sorted(range(len(self.labels)), key=lambda k: (-float(probabilities[k]), k))
        return [{"label": self.labels[k], "prob": round(float(probabilities[k]), PROB_DECIMALS)} for k in order]


def layout(lines: Sequence[Line]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """All texts in order, with each text's line number and its line's ``batched`` flag."""
    texts, line_of, batched = [], [], []
    for number, line in enumerate(lines):
        texts.extend(line.texts)
        line_of.extend([number] * len(line.texts))
        batched.extend([int(line.batched)] * len(line.texts))
    return texts, np.asarray(line_of, dtype=np.int32), np.asarray(batched, dtype=np.int32)


def answers(
    pre: Preprocessor, line_of: Sequence[int], batched: Sequence[int], probabilities: Sequence[Sequence[float]]
) -> list[Any]:
    """One answer per request line: a ranked list, or a list of them for a batched line."""
    grouped: dict[int, list[list[dict[str, Any]]]] = {}
    flags: dict[int, bool] = {}
    for number, flag, probs in zip(line_of, batched, probabilities, strict=True):
        grouped.setdefault(int(number), []).append(pre.rank(probs))
        flags[int(number)] = bool(flag)
    return [grouped[n] if flags[n] else grouped[n][0] for n in sorted(grouped)]


def answer_type(accept: str | None) -> str:
    """The answer's media type for an Accept header: its first type we can write (JSON unless JSON lines)."""
    for entry in (accept or "").split(","):
        kind = _media_type(entry)
        if kind in (JSON, JSONLINES):
            return kind
        if kind in ("", "*/*", "application/*"):
            return JSON
    raise NotAcceptable(f"accept type {accept!r} is not supported; use {' or '.join(REQUEST_TYPES)}")


def encode_answers(results: Sequence[Any], accept: str, request_type: str) -> tuple[bytes, str]:
    """JSON lines: one result per line. JSON: the result of a JSON request, or the list of per-line results."""
    dump = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    if answer_type(accept) == JSONLINES:
        return "".join(dump(r) + "\n" for r in results).encode("utf-8"), JSONLINES
    single = _media_type(request_type) != JSONLINES
    return dump(results[0] if single else list(results)).encode("utf-8"), JSON


# ---- the SageMaker TensorFlow Serving container's handler contract ------------------------------------------


@functools.lru_cache(maxsize=1)
def _preprocessor() -> Preprocessor:
    return Preprocessor.from_dir(Path(__file__).resolve().parent)


def tfs_request(pre: Preprocessor, lines: Sequence[Line]) -> dict[str, Any]:
    """TF Serving's row-format REST body for the parsed request."""
    texts, line_of, batched = layout(lines)
    tokens = pre.encode(texts)
    instances = [
        {TOKENS: row, LINE: int(n), BATCHED: int(b)}
        for row, n, b in zip(tokens.tolist(), line_of.tolist(), batched.tolist(), strict=True)
    ]
    return {"instances": instances}


def tfs_answers(pre: Preprocessor, response: dict[str, Any]) -> list[Any]:
    """The per-line answers from TF Serving's ``{"predictions": [{"probabilities", "line", "batched"}, ...]}``."""
    rows = response.get("predictions")
    if not isinstance(rows, list):
        raise ValueError(f"TF Serving answered without predictions: {str(response)[:200]}")
    return answers(pre, [r[LINE] for r in rows], [r[BATCHED] for r in rows], [r[PROBABILITIES] for r in rows])


def input_handler(data: Any, context: Any) -> str:
    """Request stream -> TF Serving REST body (``context.request_content_type`` picks the parser)."""
    answer_type(getattr(context, "accept_header", JSON))  # a 406 before any work
    lines = parse_body(data.read(), getattr(context, "request_content_type", JSON))
    return json.dumps(tfs_request(_preprocessor(), lines))


def output_handler(response: Any, context: Any) -> tuple[bytes, str]:
    """TF Serving's response -> ranked labels, as JSON or JSON lines per ``context.accept_header``."""
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8", errors="replace"))
    results = tfs_answers(_preprocessor(), json.loads(response.content))
    request_type = getattr(context, "request_content_type", JSON)
    return encode_answers(results, getattr(context, "accept_header", JSON) or JSON, request_type)
