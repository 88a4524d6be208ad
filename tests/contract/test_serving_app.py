"""The serving app's HTTP contract, in process, with a fake model handler."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from starlette.testclient import TestClient

from sm_contract import codecs
from sm_contract.environment import ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app


class EchoHandler:
    """Sums each JSON row; a row equal to "boom" is a server bug, [] a client error."""

    content_types = ("application/json", "text/csv")
    accept_types = ("application/json", "text/csv")

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()

    def decode(self, body: bytes, content_type: str) -> Any:
        if content_type == "text/csv":
            return codecs.load_csv(body).tolist()
        rows = codecs.load_json(body)
        if not isinstance(rows, list) or rows == []:
            raise InvalidPayloadError("expected a non-empty list")
        return rows

    def predict(self, rows: Any) -> Any:
        self.release.wait(10)
        if "boom" in rows:
            raise RuntimeError("bug in the model")
        return [sum(r) for r in rows]

    def encode(self, outputs: Any, accept: str) -> bytes:
        return codecs.dump_csv_column(outputs) if accept == "text/csv" else codecs.dump_json(outputs)


@pytest.fixture
def loads() -> list[Path]:
    return []


@pytest.fixture
def handler() -> EchoHandler:
    return EchoHandler()


@pytest.fixture
def env(tmp_path: Path) -> ServingEnv:
    return ServingEnv(paths=MLPaths(tmp_path), workers=2)


@pytest.fixture
def client(handler: EchoHandler, env: ServingEnv, loads: list[Path]) -> Iterator[TestClient]:
    def load(model_dir: Path) -> EchoHandler:
        loads.append(model_dir)
        return handler

    with TestClient(create_app(load, env)) as test_client:
        yield test_client


def test_ping_is_200_once_loaded_and_load_happens_once(client: TestClient, loads: list[Path], env: ServingEnv) -> None:
    assert client.get("/ping").status_code == 200
    for _ in range(3):
        client.post("/invocations", json=[[1, 2]])
    assert loads == [env.model_dir]


def test_ping_is_503_before_the_model_is_loaded(handler: EchoHandler, env: ServingEnv) -> None:
    client = TestClient(create_app(lambda _: handler, env))  # no context manager: lifespan not run
    assert client.get("/ping").status_code == 503


def test_load_failure_stops_start_up(env: ServingEnv) -> None:
    def load(model_dir: Path) -> EchoHandler:
        raise ModelLoadError(f"{model_dir}/model.npz not found")

    with pytest.raises(ModelLoadError), TestClient(create_app(load, env)):
        pass


def test_execution_parameters(client: TestClient) -> None:
    response = client.get("/execution-parameters")
    assert response.status_code == 200
    assert response.json() == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}


def test_invocation_json_and_csv(client: TestClient) -> None:
    response = client.post("/invocations", json=[[1, 2], [3, 4]])
    assert (response.status_code, response.json()) == (200, [3, 7])
    assert response.headers["content-type"] == "application/json"
    response = client.post(
        "/invocations", content=b"1,2\n3,4\n", headers={"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert (response.status_code, response.text) == (200, "3.0\n7.0\n")
    assert response.headers["content-type"].startswith("text/csv")


def test_missing_content_type_means_the_default(client: TestClient) -> None:
    response = client.post("/invocations", content=b"[[1, 1]]")
    assert (response.status_code, response.json()) == (200, [2])


def _error(response: requests.Response | Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    return body


def test_415_unsupported_content_type(client: TestClient) -> None:
    body = _error(client.post("/invocations", content=b"x", headers={"Content-Type": "image/png"}), 415)
    assert "image/png" in body["detail"] and "application/json, text/csv" in body["detail"]


def test_406_unsatisfiable_accept(client: TestClient) -> None:
    body = _error(client.post("/invocations", json=[[1]], headers={"Accept": "application/x-npy"}), 406)
    assert "application/x-npy" in body["detail"]


@pytest.mark.parametrize(
    ("content", "detail"),
    [(b"", "empty"), (b"{", "not valid JSON"), (b"[]", "non-empty list"), (b"\xff\xfe", "UTF-8")],
)
def test_400_malformed_bodies(client: TestClient, content: bytes, detail: str) -> None:
    body = _error(client.post("/invocations", content=content, headers={"Content-Type": "application/json"}), 400)
    assert detail in body["detail"]


def test_413_body_over_6_mb(client: TestClient) -> None:
    big = b"[" + b"1," * (3 * 1024 * 1024) + b"1]"
    body = _error(client.post("/invocations", content=big, headers={"Content-Type": "application/json"}), 413)
    assert "6291456-byte limit" in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        for _ in range(7):
            yield b" " * (1024 * 1024)

    _error(client.post("/invocations", content=chunks(), headers={"Content-Type": "application/json"}), 413)


def test_500_only_for_server_faults(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = _error(client.post("/invocations", json=["boom"]), 500)
    assert body == {"error": "internal server error", "detail": "see the server log"}
    assert "bug in the model" in caplog.text


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert client.get("/invocations").status_code == 405
    assert client.get("/nope").status_code == 404


@pytest.fixture
def live_server(handler: EchoHandler, env: ServingEnv) -> Iterator[str]:
    """The app on a real uvicorn server in a thread, on a loopback port held from bind to shutdown."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(lambda _: handler, env), log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_ping_answers_while_a_prediction_blocks(live_server: str, handler: EchoHandler) -> None:
    handler.release.clear()
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(r=requests.post(f"{live_server}/invocations", json=[[1, 2]], timeout=10))
    )
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert requests.get(f"{live_server}/ping", timeout=2).status_code == 200
    assert time.monotonic() - started < 1.0
    assert worker.is_alive()  # the prediction is still blocked
    handler.release.set()
    worker.join(10)
    assert result["r"].status_code == 200 and json.loads(result["r"].text) == [3]
