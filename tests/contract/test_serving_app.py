"""The serving app's HTTP contract, in process, with a fake model handler."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from starlette.testclient import TestClient

from sm_contract import codecs
from sm_contract.environment import ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError
from sm_contract.gate import GateStats
from sm_contract.paths import MLPaths
from sm_contract.serving import ServingApp, create_app
from utils.waiting import wait_until


class EchoHandler:
    """Sums each JSON row; a row equal to "boom" is a server bug, [] a client error."""

    content_types = ("application/json", "text/csv")
    accept_types = ("application/json", "text/csv")

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()  # set when a prediction begins
        self.computed: list[Any] = []  # the inputs of every prediction, in order

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        if content_type == "text/csv":
            return codecs.load_csv(body).tolist()
        rows = codecs.load_json(body)
        if not isinstance(rows, list) or rows == []:
            raise InvalidPayloadError("expected a non-empty list")
        return rows

    def predict(self, rows: Any) -> Any:
        self.computed.append(rows)
        self.started.set()
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
    def load(serving_env: ServingEnv) -> EchoHandler:
        loads.append(serving_env.model_dir)
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
    def load(serving_env: ServingEnv) -> EchoHandler:
        raise ModelLoadError(f"{serving_env.model_dir}/model.npz not found")

    with pytest.raises(ModelLoadError), TestClient(create_app(load, env)):
        pass


def test_execution_parameters(client: TestClient) -> None:
    """One request per worker (2) and one waiting for the first to be free."""
    response = client.get("/execution-parameters")
    assert response.status_code == 200
    assert response.json() == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1}


def test_execution_parameters_keep_within_the_apis_100_mb_in_flight(tmp_path: Path) -> None:
    env = ServingEnv(paths=MLPaths(tmp_path), workers=192)
    with TestClient(create_app(lambda _: EchoHandler(), env)) as client:
        parameters = client.get("/execution-parameters").json()
    assert parameters["MaxConcurrentTransforms"] * parameters["MaxPayloadInMB"] == 100


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


def _serve(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server in a thread, on a loopback port held from bind to shutdown."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=10, interval_s=0.01, what="the server started")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def _app(handler: EchoHandler, env: ServingEnv) -> ServingApp:
    return create_app(lambda _: handler, env)


def _gate(app: ServingApp, predicate: Callable[[GateStats], bool]) -> GateStats:
    """Until the worker's gate reaches a state (an event of the server, never a guess at timing)."""
    assert app.gate is not None
    return app.gate.wait_until(predicate, timeout_s=20)


@pytest.fixture
def live_app(handler: EchoHandler, env: ServingEnv) -> ServingApp:
    return _app(handler, env)


@pytest.fixture
def live_server(live_app: ServingApp) -> Iterator[str]:
    yield from _serve(live_app)


def _post_in_background(url: str, body: Any, results: list[requests.Response]) -> threading.Thread:
    worker = threading.Thread(target=lambda: results.append(requests.post(url, json=body, timeout=20)))
    worker.start()
    return worker


def test_ping_answers_while_a_prediction_blocks(live_server: str, handler: EchoHandler) -> None:
    handler.release.clear()
    results: list[requests.Response] = []
    worker = _post_in_background(f"{live_server}/invocations", [[1, 2]], results)
    assert handler.started.wait(10), "the prediction never started"
    assert requests.get(f"{live_server}/ping", timeout=5).status_code == 200
    assert worker.is_alive() and not handler.release.is_set()  # answered while the prediction is still blocked
    handler.release.set()
    worker.join(10)
    assert results[0].status_code == 200 and json.loads(results[0].text) == [3]


def test_full_queue_is_503_and_the_server_recovers(handler: EchoHandler, tmp_path: Path) -> None:
    env = ServingEnv(paths=MLPaths(tmp_path), queue_size=1)
    handler.release.clear()
    app = _app(handler, env)
    with contextlib.contextmanager(_serve)(app) as url:
        results: list[requests.Response] = []
        running = _post_in_background(f"{url}/invocations", [[1]], results)
        assert handler.started.wait(10)
        queued = _post_in_background(f"{url}/invocations", [[2]], results)
        _gate(app, lambda s: s.waiting == 1)  # the second request waits for the model
        busy = requests.post(f"{url}/invocations", json=[[3]], timeout=10)
        assert busy.status_code == 503 and busy.json()["error"] == "server busy"
        handler.release.set()
        running.join(10), queued.join(10)
        assert sorted(r.status_code for r in results) == [200, 200]
        assert requests.post(f"{url}/invocations", json=[[4]], timeout=10).status_code == 200
        assert handler.computed == [[[1]], [[2]], [[4]]]


def test_timeout_is_504_and_queued_work_is_dropped(handler: EchoHandler, tmp_path: Path) -> None:
    env = ServingEnv(paths=MLPaths(tmp_path), timeout_s=1)
    handler.release.clear()
    with contextlib.contextmanager(_serve)(_app(handler, env)) as url:
        results: list[requests.Response] = []
        slow = _post_in_background(f"{url}/invocations", [[1]], results)
        assert handler.started.wait(10)
        queued = requests.post(f"{url}/invocations", json=[[2]], timeout=10)
        assert queued.status_code == 504 and "timeout (1 s)" in queued.json()["detail"]
        slow.join(10)
        assert results[0].status_code == 504
        handler.release.set()
        # One model thread, first in first out: had [[2]] stayed queued, it would be computed before [[3]].
        assert requests.post(f"{url}/invocations", json=[[3]], timeout=10).status_code == 200
        assert handler.computed == [[[1]], [[3]]]


def test_a_request_whose_client_left_is_not_computed(
    handler: EchoHandler, live_app: ServingApp, live_server: str
) -> None:
    handler.release.clear()
    results: list[requests.Response] = []
    blocking = _post_in_background(f"{live_server}/invocations", [[1]], results)
    assert handler.started.wait(10)
    port = int(live_server.rsplit(":", 1)[1])
    body = b"[[5]]"
    with socket.create_connection(("127.0.0.1", port)) as client:  # sends a request, then hangs up
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        _gate(live_app, lambda s: s.waiting == 1)  # the request reached the gate and waits for the model
    stats = _gate(live_app, lambda s: s.gone == 1)  # the server saw the hang-up
    assert stats.dropped == 1 and stats.waiting == 0  # and took the request out of the queue
    handler.release.set()
    blocking.join(10)
    assert results[0].status_code == 200
    assert requests.post(f"{live_server}/invocations", json=[[2]], timeout=10).status_code == 200
    assert handler.computed == [[[1]], [[2]]]


def test_413_reaches_a_client_that_sends_the_whole_body_first(live_server: str) -> None:
    """urllib's http.client writes the whole body before reading: the server must not hang up on it."""
    host, port = live_server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    big = b"[" + b"1," * 10_000_000 + b"1]"  # 20 MB with a Content-Length: more than socket buffers hold
    for _ in range(2):  # the second request goes over the same (kept-alive) connection
        connection.request("POST", "/invocations", body=big, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413
        assert "6291456-byte limit" in json.loads(response.read())["detail"]
    connection.request("POST", "/invocations", body=b"[[1, 1]]", headers={"Content-Type": "application/json"})
    assert json.loads(connection.getresponse().read()) == [2]
