from __future__ import annotations

import io

import numpy as np
import pytest

from sm_contract import codecs
from sm_contract.errors import InvalidPayloadError


def test_npy_roundtrip_and_pickle_refused() -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(codecs.load_npy(codecs.dump_npy(array)), array)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidPayloadError, match=r"not a valid \.npy"):
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
