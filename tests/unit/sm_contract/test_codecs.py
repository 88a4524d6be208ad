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


TEXT_SEPARATORS = ["\x85", "\u2028", "\u2029"]  # line breaks to str.splitlines, valid raw inside JSON strings
SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", *TEXT_SEPARATORS]  # all of str.splitlines' but \n and \r


@pytest.mark.parametrize("separator", TEXT_SEPARATORS)
def test_a_json_lines_string_may_hold_unicode_line_breaks(separator: str) -> None:
    body = f'{{"q": "a{separator}b"}}\n{{"q": 2}}\r\n'.encode()
    assert codecs.count_lines(body) == 2
    assert codecs.load_jsonlines(body) == [{"q": f"a{separator}b"}, {"q": 2}]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_only_line_feeds_end_lines(separator: str) -> None:
    """Counting and parsing follow one rule: \\n (or \\r\\n) ends a line, the other line breaks of Unicode do not."""
    flood = f"1{separator}".encode() * 1000
    assert codecs.count_lines(flood) == 1
    with pytest.raises(InvalidPayloadError):
        codecs.load_jsonlines(flood)
    with pytest.raises(InvalidPayloadError, match="non-numeric"):
        codecs.load_csv(flood)


def test_a_flood_of_vertical_tabs_is_one_line_refused_at_once() -> None:
    """6 MB of ``1\\v`` once split into three million records after the line cap had counted one."""
    body = b"1\x0b" * 3_000_000
    limits = RequestLimits(max_records=10)
    codecs.check_lines(body, limits)  # one line: under the cap
    with pytest.raises(InvalidPayloadError, match="non-numeric"):
        codecs.load_csv(body)


def test_blank_lines_are_skipped_and_counted_alike() -> None:
    body = b"\n1,2\r\n \t\n3,4\n\x0b\n"
    assert codecs.count_lines(body) == 2
    assert codecs.load_csv(body).tolist() == [[1, 2], [3, 4]]
    assert codecs.load_jsonlines(b'\n{"a": 1}\r\n \t\n[2]\n') == [{"a": 1}, [2]]
    with pytest.raises(PayloadTooLargeError, match="3 lines"):
        codecs.check_lines(b"1\n2\n\n3\n", RequestLimits(max_records=2))
    with pytest.raises(InvalidPayloadError, match="inside a line"):
        codecs.load_csv(b"1,2\r3,4\n")


@pytest.mark.parametrize(
    ("shape", "descr", "message"),
    [
        ((0, 10**20), "<f4", "larger than any array"),
        ((10**20, 0), "<f4", "larger than any array"),
        ((0, 2**62, 4), "<f8", "larger than any array"),
        ((10**12,), "|V0", "zero-width"),
        ((10**6, 10**6), "|S0", "zero-width"),
        ((10**12,), "<U0", "zero-width"),
    ],
)
def test_npy_shapes_no_array_can_have_are_a_400(shape: tuple[int, ...], descr: str, message: str) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    with pytest.raises(InvalidPayloadError, match=message):
        codecs.load_npy(buffer.getvalue() + b"\0" * 64)


def test_numpy_values_are_written_as_json() -> None:
    out = codecs.dump_json({"p": np.array([[0.25, np.nan]]), "k": np.int64(3), "f": np.float32(0.5)})
    assert json.loads(out) == {"p": [[0.25, None]], "k": 3, "f": 0.5}


def test_without_orjson_the_standard_library_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image without orjson (it is optional) reads and writes the same JSON."""
    bodies = [b'{"q": "\xe9\x9b\xbb"}', b"[1, 2.5, null]", b'{"q": "a\xe2\x80\xa8b"}\n[3]\n', b"[" + b"9" * 30 + b"]"]
    values = [{"p": np.array([[0.5, np.nan]]), "k": np.int64(3)}, [float("inf"), 2**70]]
    fast = (
        [(codecs.load_json(b.split(b"\n")[0]), codecs.load_jsonlines(b)) for b in bodies],
        [codecs.dump_json(v) for v in values],
    )
    monkeypatch.setattr(codecs, "FAST_JSON", False)
    slow = (
        [(codecs.load_json(b.split(b"\n")[0]), codecs.load_jsonlines(b)) for b in bodies],
        [codecs.dump_json(v) for v in values],
    )
    assert fast[0] == slow[0]
    assert [json.loads(b) for b in fast[1]] == [json.loads(b) for b in slow[1]]
    with pytest.raises(InvalidPayloadError, match="not valid UTF-8"):
        codecs.load_json(b'{"q": "\xff"}')


@pytest.mark.parametrize("number", [-(2**63) - 1, -(2**63), 2**63, 2**64 - 1, 2**64, 10**30])
def test_integers_at_the_edges_of_64_bits_stay_exact(number: int) -> None:
    assert codecs.load_json(f"[{number}]".encode()) == [number]
    assert type(codecs.load_json(f"[{number}]".encode())[0]) is int
    assert codecs.load_jsonlines(f"{number}\n".encode()) == [number]
