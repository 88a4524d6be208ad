"""``requests`` calls to the REST port answered in process: one handler for every model name, or one per model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from keras_text.serving.tfs import transport

PORT = 18501  # no server listens here: an answer can only come from the process


@pytest.fixture(autouse=True)
def clean_port() -> Iterator[None]:
    yield
    transport._installed.pop(PORT, None)


def answering(tag: str) -> transport.RestCall:
    return lambda path, body: (200, json.dumps({"tag": tag, "path": path, "body": body.decode()}).encode())


def test_a_model_per_name_and_tf_servings_404_for_others() -> None:
    transport.install(PORT, answering("a"), "a")
    transport.install(PORT, answering("b"), "b")
    first = requests.post(f"http://localhost:{PORT}/v1/models/a:predict", data=b'{"instances": [1]}', timeout=5)
    second = requests.get(f"http://127.0.0.1:{PORT}/v1/models/b/versions/2", timeout=5)
    assert first.json() == {"tag": "a", "path": "/v1/models/a:predict", "body": '{"instances": [1]}'}
    assert second.json()["tag"] == "b"
    transport.uninstall(PORT, "a")
    gone = requests.post(f"http://localhost:{PORT}/v1/models/a:predict", data=b"{}", timeout=5)
    assert gone.status_code == 404 and gone.json() == {"error": "Servable not found for request: Latest(a)"}
    assert requests.get(f"http://localhost:{PORT}/v1/models/b", timeout=5).json()["tag"] == "b"


def test_one_handler_for_every_name() -> None:
    transport.install(PORT, answering("any"))
    for name in ("model", "other"):
        assert requests.get(f"http://localhost:{PORT}/v1/models/{name}", timeout=5).json()["tag"] == "any"
