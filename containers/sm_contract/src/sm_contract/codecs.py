"""Request decoders and response encoders shared by the images; every decoding problem is a 400.

Hostile bodies included: deep nesting, integers beyond Python's digit limit, ``.npy`` headers declaring more
data than the body holds (or than any array can hold), comment characters in CSV. Encoders never write ``NaN``
into JSON (``null`` instead).

Lines (CSV rows, JSON Lines records) end with ``\n``, a ``\r`` before it being part of the line end; nothing
else splits a line (not the other characters ``str.splitlines`` splits on), and a line holding only spaces,
tabs, ``\r``, ``\v`` or ``\f`` is blank and skipped. Counting and parsing follow this one rule.

JSON goes through orjson when it is installed (several times faster than the standard library); where orjson
and the standard library would disagree (integers beyond 64 bits, NaN literals, lone surrogates, nesting over
1,024 levels, anything orjson refuses) the standard library decides, so the answers are those of ``json``.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from sm_contract.environment import RequestLimits
from sm_contract.errors import InvalidPayloadError, PayloadTooLargeError

try:  # an optional speed-up: an image without it decodes and encodes with the standard library alone
    import orjson

    FAST_JSON = True
except ImportError:  # pragma: no cover - the tests switch FAST_JSON off instead
    FAST_JSON = False

Array = npt.NDArray[Any]
BLANK = " \t\r\v\f"  # what a blank line may hold (ASCII whitespace but the line end)
_BLANK_TEXT_LINE = re.compile(r"\n[ \t\r\v\f]+(?=\n)")
# A run of 19 digits may be an integer beyond orjson's range (-2**63 to 2**64 - 1), which orjson reads as a float
# and json as an exact integer. Found by a translate and a substring search (a regular expression costs about 100
# instructions per byte here).
_DIGITS_TO_NINES = bytes.maketrans(b"012345678", b"999999999")
_LONG_DIGITS = b"9" * 19
_MAX_INTP = int(np.iinfo(np.intp).max)


def text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayloadError(f"body is not valid UTF-8 (byte {exc.start})") from None


def _json_value(source: str, where: str) -> Any:
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise InvalidPayloadError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InvalidPayloadError(f"{where} holds an unreadable JSON value: {exc}") from None
    except RecursionError:
        raise InvalidPayloadError(f"{where} is nested too deeply") from None


def _fast_json(source: bytes | str) -> Any:
    """orjson's reading where it agrees with the standard library's; ``_SLOW`` where it may not."""
    if not FAST_JSON:
        return _SLOW
    raw = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    if _LONG_DIGITS in raw.translate(_DIGITS_TO_NINES):
        return _SLOW
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _SLOW  # the standard library says why (or accepts what orjson refuses, as before)


_SLOW = object()


def load_json(body: bytes) -> Any:
    value = _fast_json(body)
    return _json_value(text(body), "body") if value is _SLOW else value


def lines(content: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``content`` with their numbers (from 1), split by the one line rule."""
    return [(number, line) for number, line in enumerate(content.split("\n"), start=1) if line.strip(BLANK)]


def load_jsonlines(body: bytes) -> list[Any]:
    """One JSON value per non-blank line (batch transform with SplitType=Line sends several)."""
    records = []
    for number, line in lines(text(body)):
        value = _fast_json(line)
        records.append(_json_value(line, f"line {number}") if value is _SLOW else value)
    if not records:
        raise InvalidPayloadError("body holds no JSON lines")
    return records


def npy_header(body: bytes) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype from a ``.npy`` header, checked against the body's size before any allocation."""
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)  # type: ignore[no-untyped-call]
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)  # type: ignore[no-untyped-call]
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)  # type: ignore[no-untyped-call]
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise InvalidPayloadError(f"body is not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise InvalidPayloadError("body is a .npy array of Python objects; send numbers")
    if dtype.itemsize == 0:
        raise InvalidPayloadError(f"body is a .npy array of zero-width items ({dtype.str}); send numbers")
    if any(d < 0 or d > _MAX_INTP for d in shape) or math.prod(d for d in shape if d) * dtype.itemsize > _MAX_INTP:
        raise InvalidPayloadError(f".npy header declares shape {shape} of {dtype}, larger than any array can be")
    declared = math.prod(shape) * dtype.itemsize
    if declared > len(body) - stream.tell():
        raise InvalidPayloadError(f".npy header declares shape {shape} of {dtype}, more data than the body holds")
    return tuple(shape), dtype


def load_npy(body: bytes) -> Array:
    """A ``.npy`` payload; pickled object arrays are refused (unsafe on request bodies)."""
    if body[:2] == b"PK":
        raise InvalidPayloadError("body is an .npz archive, expected a single .npy array")
    npy_header(body)
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        raise InvalidPayloadError(f"body is not a valid .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise InvalidPayloadError("body is not a single .npy array")
    return array


def load_csv(body: bytes) -> Array:
    """Numeric CSV without header, one record per line, as a 2-D float32 array."""
    content = text(body)
    if not content.strip(BLANK + "\n"):
        raise InvalidPayloadError("CSV body holds no rows")
    try:  # NumPy's C parser, which ends lines at \n (and \r\n) as the line rule does
        return _loadtxt(content)
    except ValueError as exc:
        problem = str(exc)
    if "number of columns changed" in problem:  # perhaps a blank line, which NumPy does not skip (empty ones it does)
        try:
            return _loadtxt(_BLANK_TEXT_LINE.sub("", f"\n{content}\n"))
        except ValueError as exc:
            problem = str(exc)
    raise InvalidPayloadError(_csv_problem(problem)) from None


def _loadtxt(content: str) -> Array:
    # The lines as a list: NumPy parses them about a quarter faster than the same text from a file object (a 1 MB
    # MNIST request: 12 ms against 16 ms), with the same answers and errors (a \r left at a line's end is its end).
    lines = content.split("\n")
    array: Array = np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2, comments=None)
    return array


def _csv_problem(numpy_says: str) -> str:
    """NumPy's reason, said in the terms of the request (and cut short: it may quote a whole line)."""
    detail = numpy_says if len(numpy_says) <= 300 else numpy_says[:300] + "..."
    if "could not convert" in numpy_says:
        return f"CSV holds a non-numeric value: {detail}"
    if "number of columns changed" in numpy_says:
        return f"CSV rows have different lengths: {detail}"
    if "embedded newline" in numpy_says:
        return "CSV holds a \\r inside a line; lines end with \\n or \\r\\n"
    return f"CSV is not rows of numbers: {detail}"


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars as the standard library's JSON encoder can write them."""
    if isinstance(value, np.ndarray | np.generic):
        return finite(value.tolist())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, NumPy arrays and scalars included; always valid JSON (non-finite numbers: ``null``)."""
    if FAST_JSON:
        try:
            return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # orjson.JSONEncodeError too: integers beyond 64 bits, non-string keys, other types
            pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain).encode(
            "utf-8"
        )
    except ValueError:
        return json.dumps(finite(value), ensure_ascii=False, separators=(",", ":"), default=_plain).encode("utf-8")


def dump_jsonlines(values: list[Any]) -> bytes:
    return b"".join(dump_json(v) + b"\n" for v in values)


def dump_npy(array: Array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def dump_csv_column(values: Any) -> bytes:
    """One value per line: a batch transform's output lines then match its input lines."""
    return "".join(f"{v}\n" for v in values).encode("utf-8")


def check_records(count: int, limits: RequestLimits, what: str = "records") -> None:
    """413 naming the cap when a request holds more records than a worker takes at once."""
    if count > limits.max_records:
        raise PayloadTooLargeError(
            f"request holds {count} {what}; the limit is {limits.max_records} per request (MODEL_SERVER_MAX_RECORDS)"
        )


def check_chars(count: int, limits: RequestLimits) -> None:
    if count > limits.max_chars:
        raise PayloadTooLargeError(
            f"request holds {count} characters of text; the limit is {limits.max_chars} per request "
            "(MODEL_SERVER_MAX_CHARS)"
        )


def count_lines(body: bytes) -> int:
    """Non-blank lines by the one line rule, counted before parsing (in C, no line objects)."""
    squeezed = np.frombuffer(body.translate(None, BLANK.encode()), np.uint8)  # line ends and non-blank bytes
    if not squeezed.size:
        return 0
    line_end = squeezed == ord("\n")
    # a line is non-blank where a non-blank byte follows a line end (or starts the body)
    return int(not line_end[0]) + int(np.count_nonzero(line_end[:-1] & ~line_end[1:]))


def check_lines(body: bytes, limits: RequestLimits, what: str = "lines") -> None:
    """:func:`check_records` of :func:`count_lines`, counting only when the line ends alone could pass the cap."""
    if body.count(b"\n") + 1 > limits.max_records:
        check_records(count_lines(body), limits, what)
