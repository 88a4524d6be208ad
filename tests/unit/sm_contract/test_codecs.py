from __future__ import annotations

import io
import json

import numpy as np
import pytest

from sm_contract import codecs
from sm_contract.environment import RequestLimits
from sm_contract.errors import InvalidPayloadError, PayloadTooLargeError


def test_npy_roundtrip_and_pickle_refused() -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(codecs.load_npy(codecs.dump_npy(array)), array)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidPayloadError, match="Python objects"):
        codecs.load_npy(buffer.getvalue())
    with pytest.raises(InvalidPayloadError):
        codecs.load_npy(b"not numpy")


def test_csv() -> None:
    assert codecs.load_csv(b"1,2\n3,4\n\n").tolist() == [[1, 2], [3, 4]]
    with pytest.raises(InvalidPayloadError, match="different lengths"):
        codecs.load_csv(b"1,2\n3\n")
    with pytest.raises(InvalidPayloadError, match="non-numeric"):
        codecs.load_csv(b"1,a\n")
    with pytest.raises(InvalidPayloadError, match="no rows"):
        codecs.load_csv(b"\n")
    assert codecs.dump_csv_column([3, 7]) == b"3\n7\n"


def test_json_and_jsonlines() -> None:
    assert codecs.load_json('{"q": "電波"}'.encode()) == {"q": "電波"}
    assert codecs.dump_json({"q": "電波"}) == '{"q":"電波"}'.encode()
    with pytest.raises(InvalidPayloadError, match="not valid UTF-8"):
        codecs.load_json(b'{"q": "\xff"}')
    with pytest.raises(InvalidPayloadError, match="not valid JSON"):
        codecs.load_json(b"{")
    assert codecs.load_jsonlines(b'{"a":1}\n\n{"a":2}\n') == [{"a": 1}, {"a": 2}]
    with pytest.raises(InvalidPayloadError, match="line 2"):
        codecs.load_jsonlines(b'{"a":1}\n{\n')
    assert codecs.dump_jsonlines([1, 2]) == b"1\n2\n"


def _npy_header_declaring(shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_npy_header_declaring((10**6, 10**6)), "more data than the body holds"),
        (_npy_header_declaring((5, 4)), "more data than the body holds"),  # 80 bytes declared, 64 sent
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", "not a valid .npy"),
        (b"PK\x03\x04 an npz", "npz archive"),
    ],
)
def test_hostile_npy_is_a_400_before_any_allocation(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayloadError, match=message):
        codecs.load_npy(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"1" * 5000, "unreadable JSON value"),
        (b'{"q": ' + b"9" * 4301 + b"}", "unreadable JSON value"),
    ],
)
def test_hostile_json_is_a_400(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayloadError, match=message):
        codecs.load_json(body)
    with pytest.raises(InvalidPayloadError, match=message):
        codecs.load_jsonlines(body)


def test_csv_has_no_comment_character() -> None:
    with pytest.raises(InvalidPayloadError, match="non-numeric"):
        codecs.load_csv(b"1,2#3\n")


def test_json_output_is_always_valid_json() -> None:
    out = codecs.dump_json({"p": [float("nan"), float("inf"), 0.5], "q": "京都"})
    assert json.loads(out) == {"p": [None, None, 0.5], "q": "京都"}
    assert b"NaN" not in codecs.dump_jsonlines([float("nan")])


def test_record_and_character_caps_name_the_cap() -> None:
    limits = RequestLimits(max_records=3, max_chars=10)
    codecs.check_records(3, limits)
    with pytest.raises(
        PayloadTooLargeError, match="4 texts; the limit is 3 per request \\(MODEL_SERVER_MAX_RECORDS\\)"
    ):
        codecs.check_records(4, limits, "texts")
    with pytest.raises(PayloadTooLargeError, match="MODEL_SERVER_MAX_CHARS"):
        codecs.check_chars(11, limits)
    assert codecs.count_lines(b"a\n\n b\n") == 2
