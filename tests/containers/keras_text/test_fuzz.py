"""Hostile bodies of every content type for the keras-text server (its own model, through its inference.py):
a 4xx JSON error each, never a 5xx, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from utils.checks import serving, train_in_container
from utils.data import write_opt_ml
from utils.fuzz import CSV, JSON, JSONLINES, NPY, assert_refused_as_client_errors, hostile_bodies

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def url(keras_text_image, docker_client, tmp_path_factory, knbc_channels, small_hps) -> Iterator[str]:
    root = write_opt_ml(tmp_path_factory.mktemp("fuzz"), {**small_hps, "epochs": "1"}, knbc_channels)
    train_in_container(docker_client, keras_text_image, root)
    with serving(docker_client, keras_text_image, root, workers=1) as base_url:
        yield base_url


def test_hostile_bodies_are_client_errors_and_the_server_stays_up(url: str) -> None:
    statuses = assert_refused_as_client_errors(url, hostile_bodies((JSON, JSONLINES, CSV, NPY)))
    assert statuses["over 6 MB (application/json)"] == 413
    assert statuses["200,000 tiny lines (application/jsonlines)"] == 413
    assert statuses["20,000 tiny records (application/json)"] == 413
