"""Hostile request bodies for every content type an image reads, and the check that each gets a 4xx JSON error."""

from __future__ import annotations

import io
import random

import numpy as np
import requests

JSON, JSONLINES, CSV, NPY = "application/json", "application/jsonlines", "text/csv", "application/x-npy"


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 16


def _object_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def hostile_bodies(content_types: tuple[str, ...], seed: int = 0) -> list[tuple[str, bytes, str]]:
    """``(name, body, content type)``: nesting, huge numbers, huge declared shapes, floods of tiny records,
    random bytes, bad UTF-8, wrong types, an oversized body."""
    rng = random.Random(seed)
    cases: list[tuple[str, bytes, str]] = []
    for kind in content_types:
        cases += [
            ("random bytes", bytes(rng.getrandbits(8) for _ in range(512)), kind),
            ("bad UTF-8", b'{"q": "\xff\xfe\xfd", "instances": ["\xc3\x28"]}', kind),
            ("empty-ish", b" \n", kind),
            ("over 6 MB", b"1," * 3_300_000, kind),
        ]
        if kind in (JSON, JSONLINES):
            cases += [
                ("nested 5,000 deep", b"[" * 5000 + b"]" * 5000, kind),
                ("an integer of 5,000 digits", b'{"instances": [' + b"9" * 5000 + b"]}", kind),
                ("wrong types", b'{"instances": "abc", "q": 3}', kind),
                ("a JSON string", b'"just a string"', kind),
                ("null", b"null", kind),
                (
                    "20,000 tiny records",
                    b'{"instances": [[0]' + b",[0]" * 19999 + b'], "q": ["a"' + b',"a"' * 19999 + b"]}",
                    kind,
                ),
            ]
        if kind == JSONLINES:
            cases += [("200,000 tiny lines", b'{"q": "a"}\n' * 200_000, kind)]
        if kind == CSV:
            cases += [
                ("200,000 tiny lines", b"1\n" * 200_000, kind),
                ("6 MB of vertical tabs", b"1\x0b" * 3_000_000, kind),
                ("a comment character", b"1,2#3\n", kind),
                ("ragged rows", b"1,2,3\n4\n", kind),
            ]
        if kind == NPY:
            cases += [
                ("a declared shape of 10^12 elements", _npy_header((10**6, 10**6)), kind),
                ("a declared shape beyond 64 bits", _npy_header((0, 10**20)), kind),
                ("10^12 zero-width elements", _npy_header((10**12,), "|V0"), kind),
                ("pickled objects", _object_npy(), kind),
                ("an npz archive", b"PK\x03\x04" + bytes(64), kind),
            ]
    return cases


def assert_refused_as_client_errors(
    url: str, cases: list[tuple[str, bytes, str]], path: str = "/invocations"
) -> dict[str, int]:
    """Every case POSTed to ``path`` a 4xx with a JSON error body; returns the statuses by case name."""
    statuses = {}
    with requests.Session() as session:
        for name, body, content_type in cases:
            response = session.post(f"{url}{path}", data=body, headers={"Content-Type": content_type}, timeout=60)
            assert 400 <= response.status_code < 500, (
                f"{name} ({content_type}): {response.status_code} {response.text[:300]}"
            )
            assert "error" in response.json(), f"{name} ({content_type}): {response.text[:300]}"
            statuses[f"{name} ({content_type})"] = response.status_code
        assert session.get(f"{url}/ping", timeout=10).status_code == 200
    return statuses
