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
@given(st.lists(st.integers(min_value=0, max_value=2**62), min_size=1, max_size=4), st.binary(max_size=64))
def test_npy_headers_never_allocate_what_the_body_does_not_hold(shape: list[int], tail: bytes) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": tuple(shape)})
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
