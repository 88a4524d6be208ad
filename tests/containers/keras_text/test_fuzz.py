"""Hostile bodies of every content type for the keras-text server: its own model (through its inference.py) and a
TF Serving artifact without inference.py (the container's default handling), at /invocations and at TF Serving's
REST API routes: a 4xx JSON error each, never a 5xx, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from utils.checks import serving
from utils.fuzz import CSV, JSON, JSONLINES, NPY, assert_refused_as_client_errors, hostile_bodies
from utils.tfs_models import tf1_half_plus_three

pytestmark = pytest.mark.container

PREDICT = "/v1/models/model:predict"
# What TF Serving's REST API once answered 500 to: an instance nested as deep as the API allows, strings nested
# far deeper, and a version number beyond int64.
REST_CASES = [
    ("an instance nested 64 deep", b'{"instances": ' + b"[" * 65 + b"1" + b"]" * 65 + b"}", JSON),
    ("strings nested 600 deep", b'{"instances": ' + b"[" * 600 + b'"a"' + b"]" * 600 + b"}", JSON),
    ("columnar inputs nested 600 deep", b'{"inputs": ' + b"[" * 600 + b'"a"' + b"]" * 600 + b"}", JSON),
]


def _rest_routes_refuse(url: str) -> dict[str, int]:
    statuses = assert_refused_as_client_errors(url, hostile_bodies((JSON,)) + REST_CASES, path=PREDICT)
    for path in ("/v1/models/model/versions/" + "9" * 5000, "/v1/models/model/versions/1" + "0" * 30 + ":predict"):
        method = requests.post if path.endswith(":predict") else requests.get
        response = method(f"{url}{path}", json={"instances": [1.0]}, timeout=30)
        assert 400 <= response.status_code < 500 and "error" in response.json(), (path[:60], response.text[:300])
    return statuses


def test_hostile_bodies_are_client_errors_and_the_server_stays_up(url: str) -> None:
    statuses = assert_refused_as_client_errors(url, hostile_bodies((JSON, JSONLINES, CSV, NPY)))
    assert statuses["over 6 MB (application/json)"] == 413
    assert statuses["200,000 tiny lines (application/jsonlines)"] == 413
    assert statuses["20,000 tiny records (application/json)"] == 413
    rest = _rest_routes_refuse(url)
    assert rest["over 6 MB (application/json)"] == 413 and rest["20,000 tiny records (application/json)"] == 413


@pytest.fixture(scope="module")
def default_handling(keras_text_image, docker_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A TF1 model like TF Serving's half_plus_three, with no code/ folder, served with one worker."""
    root = tmp_path_factory.mktemp("half_plus_three")
    tf1_half_plus_three(root / "model" / "1")
    with serving(docker_client, keras_text_image, root, workers=1) as base_url:
        yield base_url


def test_an_artifact_without_inference_py_refuses_hostile_bodies(default_handling: str) -> None:
    url = default_handling
    answer = requests.post(f"{url}/invocations", data=b"1\n2\n", headers={"Content-Type": CSV}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"predictions": [3.5, 4.0]}, answer.text
    # A float model of any shape takes these as they are: a JSON null is a NaN (written back as null).
    valid = {"empty-ish", "null"}
    cases = [case for case in hostile_bodies((JSON, JSONLINES, CSV, NPY)) if case[0] not in valid]
    statuses = assert_refused_as_client_errors(url, cases + REST_CASES)
    assert statuses["over 6 MB (text/csv)"] == 413 and statuses["200,000 tiny lines (text/csv)"] == 413
    assert statuses["an npz archive (application/x-npy)"] == 415  # the container's handling reads no npy
    rest = _rest_routes_refuse(url)
    assert rest["nested 5,000 deep (application/json)"] == 400
    assert rest["an instance nested 64 deep (application/json)"] == 400
