"""The gate and the server's bounds on a real uvicorn (the model server's own settings), observed through the gate.

One deadline per request, abandoned work counted until its thread returns, requests computed on the event loop
when the model is idle, and uvicorn's bounds on connections and header size.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from sm_contract import codecs
from sm_contract.environment import ServingEnv
from sm_contract.gate import GateStats
from sm_contract.paths import MLPaths
from sm_contract.server import MIN_CONNECTIONS, uvicorn_config
from sm_contract.serving import ServingApp, create_app


class BlockingHandler:
    """Sums a JSON list; blocks while ``release`` is clear (after setting ``started``)."""

    content_types = ("application/json",)
    accept_types = ("application/json",)
    runs_on_event_loop = True

    def __init__(self) -> None:
        self.release, self.started = threading.Event(), threading.Event()
        self.release.set()
        self.computed: list[Any] = []
        self.threads: set[str] = set()
        self.seconds = 0.0  # how long a prediction takes (a model slower than the inline budget)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        return codecs.load_json(body)

    def predict(self, rows: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        self.started.set()
        self.release.wait(20)
        time.sleep(self.seconds)
        self.computed.append(rows)
        return sum(rows)

    def encode(self, outputs: Any, accept: str) -> bytes:
        return codecs.dump_json(outputs)


@contextlib.contextmanager
def serving(app: ServingApp, env: ServingEnv) -> Iterator[str]:
    """``app`` on uvicorn with the model server's settings, in a thread, on a loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, env))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def handler() -> BlockingHandler:
    return BlockingHandler()


def _app(handler: BlockingHandler, tmp_path: Path, **settings: Any) -> tuple[ServingApp, ServingEnv]:
    env = ServingEnv(paths=MLPaths(tmp_path), **settings)
    return create_app(lambda _: handler, env), env


def _post(url: str, body: Any, out: list[requests.Response]) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(requests.post(f"{url}/invocations", json=body, timeout=30)))
    thread.start()
    return thread


def _gate(app: ServingApp, predicate: Any, timeout_s: float = 10) -> GateStats:
    assert app.gate is not None
    return app.gate.wait_until(predicate, timeout_s)


def test_a_queued_request_gets_its_504_at_one_timeout(handler: BlockingHandler, tmp_path: Path) -> None:
    """Waiting in the queue and computing count against one deadline, not a timeout each."""
    app, env = _app(handler, tmp_path, timeout_s=1)
    handler.release.clear()
    with serving(app, env) as url:
        first: list[requests.Response] = []
        running = _post(url, [1], first)
        assert handler.started.wait(10)
        started = time.monotonic()
        queued = requests.post(f"{url}/invocations", json=[2], timeout=10)
        elapsed = time.monotonic() - started
        assert queued.status_code == 504 and "dropped before it started" in queued.json()["detail"]
        assert elapsed < 1.5, f"the queued request was answered after {elapsed:.2f} s with a 1 s timeout"
        running.join(10)
        handler.release.set()


def test_abandoned_work_is_counted_until_its_thread_returns(handler: BlockingHandler, tmp_path: Path) -> None:
    """After a 504, the model thread still computes: the next request queues (watched), one more is a 503."""
    app, env = _app(handler, tmp_path, timeout_s=1, queue_size=1)
    handler.release.clear()
    with serving(app, env) as url:
        answers: list[requests.Response] = []
        _post(url, [1], answers).join(10)
        assert answers[0].status_code == 504 and "abandoned" in answers[0].json()["detail"]
        assert _gate(app, lambda s: s.timed_out == 1).pending == 1  # still computing in its thread
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as leaving:  # queued behind the abandoned work
            body = b"[5]"
            leaving.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            _gate(app, lambda s: s.waiting == 1)
            busy = requests.post(f"{url}/invocations", json=[3], timeout=10)
            assert busy.status_code == 503 and busy.json()["error"] == "server busy"
        _gate(app, lambda s: s.gone == 1 and s.dropped == 1)  # its client hung up: taken out of the queue
        handler.release.set()
        _gate(app, lambda s: s.pending == 0)
        assert handler.computed == [[1]]  # neither the dropped request nor the refused one was computed
        assert requests.post(f"{url}/invocations", json=[4], timeout=10).json() == 4


def test_an_idle_model_computes_fast_requests_on_the_event_loop(handler: BlockingHandler, tmp_path: Path) -> None:
    """The first request is timed in a model thread; once requests are known to be fast, they skip the thread."""
    app, env = _app(handler, tmp_path)
    with serving(app, env) as url, requests.Session() as session:
        for i in range(5):
            assert session.post(f"{url}/invocations", json=[i, 1], timeout=10).json() == i + 1
        stats = _gate(app, lambda s: s.computed == 5)
    assert stats.inline == 4
    assert any(name.startswith("model") for name in handler.threads)
    assert any(not name.startswith("model") for name in handler.threads)


def test_a_handler_that_does_not_allow_it_is_never_computed_on_the_event_loop(
    handler: BlockingHandler, tmp_path: Path
) -> None:
    handler.runs_on_event_loop = False  # e.g. a handler that calls its own server over HTTP
    app, env = _app(handler, tmp_path)
    with serving(app, env) as url, requests.Session() as session:
        for i in range(5):
            assert session.post(f"{url}/invocations", json=[i], timeout=10).status_code == 200
        assert _gate(app, lambda s: s.computed == 5).inline == 0
    assert all(name.startswith("model") for name in handler.threads)


def test_a_slow_request_is_never_computed_on_the_event_loop(handler: BlockingHandler, tmp_path: Path) -> None:
    """A model measured slower than the inline budget stays in its thread: /ping answers while it computes."""
    app, env = _app(handler, tmp_path)
    handler.seconds = 0.3  # over the inline budget (0.25 s; an eighth of the timeout is more)
    with serving(app, env) as url:
        slow: list[requests.Response] = []
        _post(url, [1], slow).join(10)
        handler.release.clear()
        handler.started.clear()
        thread = _post(url, [2], slow)
        assert handler.started.wait(10)
        assert requests.get(f"{url}/ping", timeout=2).status_code == 200  # the event loop is free
        handler.release.set()
        thread.join(10)
    assert [r.status_code for r in slow] == [200, 200]
    assert app.gate is not None and app.gate.stats().inline == 0


def test_a_body_that_does_not_arrive_gets_a_408_at_the_deadline(handler: BlockingHandler, tmp_path: Path) -> None:
    app, env = _app(handler, tmp_path, timeout_s=1)
    with serving(app, env) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
            client.sendall(head + b"\r\n[1")  # 2 of the 10 bytes, never the rest
            started = time.monotonic()
            answer = client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert time.monotonic() - started < 5
        assert handler.computed == []


def test_headers_beyond_the_bound_are_a_431(handler: BlockingHandler, tmp_path: Path) -> None:
    app, env = _app(handler, tmp_path)
    with serving(app, env) as url:
        response = requests.get(f"{url}/ping", headers={"X-Big": "a" * 100_000}, timeout=10)
        assert response.status_code == 431 and "headers exceed" in response.json()["detail"]
        assert requests.get(f"{url}/ping", headers={"X-Small": "a" * 1000}, timeout=10).status_code == 200


def test_connections_beyond_the_limit_are_refused_before_the_app(handler: BlockingHandler, tmp_path: Path) -> None:
    app, env = _app(handler, tmp_path, queue_size=4)
    with serving(app, env) as url, contextlib.ExitStack() as stack:
        port = int(url.rsplit(":", 1)[1])
        idle = [stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(MIN_CONNECTIONS)]
        assert len(idle) == MIN_CONNECTIONS
        response = requests.get(f"{url}/ping", timeout=10)
        assert response.status_code == 503
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 10
        while requests.get(f"{url}/ping", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the server never took connections again"
            time.sleep(0.05)
