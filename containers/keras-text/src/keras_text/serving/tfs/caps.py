"""What a request holds, counted before any handler runs: its records, and its characters of text.

Records are what a handler turns into rows: for JSON the longest top-level list (the body's, or a list under one
of its keys: ``{"q": [...]}``, ``{"instances": [...]}``), for JSON Lines the same for every line, summed, so a
line ``{"q": ["a", ...]}`` counts each of its texts, and for CSV the lines. The character cap is meant for text
a handler may tokenize: JSON string values (neither keys nor ``{"b64": ...}`` payloads), a CSV body that is not
made of numbers alone, any other ``text/*`` body. Numeric bodies and binary ones are bounded by the payload
limit and the record cap alone.

Counting never refuses a body for being malformed: the handler says what is wrong with it (a line that is not
JSON counts as one record of text).
"""

from __future__ import annotations

from typing import Any

from sm_contract import codecs
from sm_contract import content_types as ct
from sm_contract.environment import RequestLimits
from sm_contract.errors import InvalidPayloadError

JSONS = "application/jsons"  # TF Serving's container reads it as JSON Lines
JSON_LINES_TYPES = (ct.JSONLINES, JSONS)
# What a numeric CSV body is made of: digits, signs, decimal points, exponents, commas and blanks.
NUMBER_BYTES = b"0123456789+-.eE," + codecs.BLANK.encode() + b"\n"
_NOT_JSON = object()


def check(body: bytes, content_type: str, limits: RequestLimits) -> None:
    """413 naming the cap a request exceeds (``content_type`` without parameters, lower case)."""
    if content_type in JSON_LINES_TYPES:
        records, chars = _json_lines(body, limits)
    elif content_type == ct.JSON:
        value = _load(body)
        # TF Serving's container also takes JSON Lines sent as application/json
        records, chars = _json_lines(body, limits) if value is _NOT_JSON else (_records(value), text_chars(value))
    elif content_type == ct.CSV:
        codecs.check_lines(body, limits, "lines")
        records, chars = 0, (0 if not body.translate(None, NUMBER_BYTES) else _chars(body))
    elif content_type.startswith("text/"):
        records, chars = 0, _chars(body)
    else:
        return  # binary: no text, and no records we could count
    codecs.check_records(records, limits, "records")
    codecs.check_chars(chars, limits)


def _json_lines(body: bytes, limits: RequestLimits) -> tuple[int, int]:
    codecs.check_lines(body, limits, "lines")  # at most max_records lines are worth parsing
    records = chars = 0
    for _, line in codecs.lines(body.decode("utf-8", errors="replace")):
        value = _load(line.encode("utf-8"))
        records += 1 if value is _NOT_JSON else _records(value)
        chars += len(line) if value is _NOT_JSON else text_chars(value)
    return records, chars


def _load(body: bytes) -> Any:
    try:
        return codecs.load_json(body)
    except InvalidPayloadError:
        return _NOT_JSON


def _records(value: Any) -> int:
    lists = [v for v in (value.values() if isinstance(value, dict) else [value]) if isinstance(v, list)]
    return max((len(v) for v in lists), default=1)


def _chars(body: bytes) -> int:
    return len(body.decode("utf-8", errors="replace"))


def text_chars(value: Any) -> int:
    """Characters of the string values in a decoded JSON value (keys and ``{"b64": ...}`` payloads aside).

    Without recursion (any nesting the JSON parser allows), and a list's items are told apart by one pass of
    ``type`` in C, so a body of a million numbers costs about as much as parsing it."""
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is dict:
            if not (len(item) == 1 and type(item.get("b64")) is str):
                pending.extend(item.values())
        elif kind is list:
            kinds = set(map(type, item))
            if str in kinds:
                total += sum(len(v) for v in item if type(v) is str)
            if list in kinds or dict in kinds:
                pending.extend(v for v in item if type(v) is list or type(v) is dict)
    return total
