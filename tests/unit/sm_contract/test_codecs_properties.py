"""Properties of the request decoders: whatever the bytes, a value or a 400 (InvalidPayloadError), never a crash."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sm_contract import codecs
from sm_contract.errors import InvalidPayloadError

DECODERS = (codecs.load_json, codecs.load_jsonlines, codecs.load_csv, codecs.load_npy)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decodes_or_refuses(decoder, body: bytes) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(InvalidPayloadError):  # a 400 is fine; any other exception fails the test
        decoder(body)


@FAST
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_are_a_client_error(body: bytes) -> None:
    for decoder in DECODERS:
        _decodes_or_refuses(decoder, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(json_values)
def test_json_round_trips(value: object) -> None:
    assert codecs.load_json(json.dumps(value).encode()) == value


@FAST
@given(st.integers(min_value=1, max_value=20000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_a_client_error_not_a_crash(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    _decodes_or_refuses(codecs.load_json, (opener * depth + "1" + closer * depth).encode())


@FAST
@given(hnp.arrays(hnp.scalar_dtypes().filter(lambda d: d.kind in "biuf"), hnp.array_shapes(max_dims=3, max_side=5)))
def test_npy_round_trips(array: np.ndarray) -> None:
    decoded = codecs.load_npy(codecs.dump_npy(array))
    assert decoded.dtype == array.dtype and np.array_equal(decoded, array, equal_nan=True)


@FAST
@given(
    st.lists(st.integers(min_value=0, max_value=2**70), min_size=1, max_size=4),
    st.sampled_from(["<f8", "<f4", "|u1", "|V0", "|S0", "<U0", "|V3", "<c16"]),
    st.binary(max_size=64),
)
def test_npy_headers_never_allocate_what_the_body_does_not_hold(shape: list[int], descr: str, tail: bytes) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    _decodes_or_refuses(codecs.load_npy, buffer.getvalue() + tail)


@FAST
@given(
    st.lists(
        st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=5),
        min_size=1,
        max_size=5,
    )
)
def test_csv_rows_round_trip(rows: list[list[float]]) -> None:
    width = len(rows[0])
    rows = [(row * width)[:width] for row in rows]
    text = "\n".join(",".join(repr(v) for v in row) for row in rows) + "\n"
    assert np.allclose(codecs.load_csv(text.encode()), np.asarray(rows, dtype=np.float32))


@FAST
@given(json_values | st.lists(st.floats()))
def test_json_output_is_always_strict_json(value: object) -> None:
    def refuse(constant: str) -> float:
        raise ValueError(f"non-standard JSON constant {constant}")

    decoded = json.loads(codecs.dump_json(value), parse_constant=refuse)
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        assert decoded == [v if math.isfinite(v) else None for v in value]


def _stdlib_json(body: bytes) -> object:
    """What the standard library alone makes of a body (the answer load_json must give), or the 400."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return InvalidPayloadError


@FAST
@given(
    json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=256) | st.text(max_size=64).map(str.encode)
)
def test_json_decodes_as_the_standard_library_does(body: bytes) -> None:
    """orjson reads the body only where it agrees with json: the same value, or the same refusal."""
    try:
        decoded: object = codecs.load_json(body)
    except InvalidPayloadError:
        decoded = InvalidPayloadError
    expected = _stdlib_json(body)
    assert decoded == expected or (decoded != decoded and expected != expected)  # NaN is never equal to itself


@FAST
@given(json_values | st.lists(st.floats()) | st.integers())
def test_json_encodes_as_the_standard_library_reads(value: object) -> None:
    """The bytes written (by orjson or json) read back as json reads the standard library's own output."""
    expected = json.loads(json.dumps(codecs.finite(value)))
    assert json.loads(codecs.dump_json(value)) == expected


LINE_BREAKS = ["\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", " \n\t\n"]


@FAST
@given(st.lists(st.tuples(st.integers(-1000, 1000), st.sampled_from(LINE_BREAKS)), min_size=1, max_size=30))
def test_lines_are_counted_as_they_are_parsed(records: list[tuple[int, str]]) -> None:
    """One rule for counting and parsing: as many records parsed (CSV or JSON Lines) as lines counted."""
    body = "".join(f"{value}{end}" for value, end in records).encode()
    count = codecs.count_lines(body)
    for decoder in (codecs.load_jsonlines, lambda b: codecs.load_csv(b).tolist()):
        try:
            parsed = decoder(body)
        except InvalidPayloadError:
            continue  # a line holding a separator that is not a line end: refused, never split
        assert len(parsed) == count
