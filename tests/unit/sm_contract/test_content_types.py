from __future__ import annotations

import pytest

from sm_contract.content_types import media_type, negotiate

OFFERED = ("application/json", "text/csv", "application/x-npy")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("TEXT/CSV; charset=utf-8", "text/csv"),
        ("application/x-npy, application/json", "application/x-npy"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("image/png, */*;q=0.1", "application/json"),
        ("application/*;q=0.9, application/x-npy", "application/x-npy"),
        ("image/png", None),
        ("text/csv;q=0", None),
    ],
)
def test_negotiate(header: str | None, expected: str | None) -> None:
    assert negotiate(header, OFFERED) == expected


def test_media_type_drops_parameters() -> None:
    assert media_type("Application/JSON; charset=UTF-8") == "application/json"
    assert media_type(None) == ""
