"""Hostile bodies of every content type for the keras-text server (its own model, through its inference.py):
a 4xx JSON error each, never a 5xx, and the server stays up."""

from __future__ import annotations

import pytest

from utils.fuzz import CSV, JSON, JSONLINES, NPY, assert_refused_as_client_errors, hostile_bodies

pytestmark = pytest.mark.container


def test_hostile_bodies_are_client_errors_and_the_server_stays_up(url: str) -> None:
    statuses = assert_refused_as_client_errors(url, hostile_bodies((JSON, JSONLINES, CSV, NPY)))
    assert statuses["over 6 MB (application/json)"] == 413
    assert statuses["200,000 tiny lines (application/jsonlines)"] == 413
    assert statuses["20,000 tiny records (application/json)"] == 413
