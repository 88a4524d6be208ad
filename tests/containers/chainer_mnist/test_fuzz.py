"""Hostile bodies of every content type the chainer-mnist server reads: a 4xx JSON error each, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from utils.checks import serving
from utils.fuzz import CSV, JSON, NPY, assert_refused_as_client_errors, hostile_bodies

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def url(chainer_mnist_image, docker_client, trained_root: Path) -> Iterator[str]:
    with serving(docker_client, chainer_mnist_image, trained_root, workers=1) as base_url:
        yield base_url


def test_hostile_bodies_are_client_errors_and_the_server_stays_up(url: str) -> None:
    statuses = assert_refused_as_client_errors(url, hostile_bodies((JSON, CSV, NPY)))
    assert statuses["over 6 MB (application/json)"] == 413
    assert statuses["200,000 tiny lines (text/csv)"] == 413
    assert statuses["a declared shape of 10^12 elements (application/x-npy)"] == 400
    assert statuses["a declared shape beyond 64 bits (application/x-npy)"] == 400
    assert statuses["10^12 zero-width elements (application/x-npy)"] == 400
    assert statuses["6 MB of vertical tabs (text/csv)"] == 400
