"""Which worker takes a new connection (sm_contract.listener): one that is not in a request, while there is one.

First the listener on its own, on both event loops a worker may run (uvloop's and asyncio's); then ``serve`` with
two worker processes, whose new connections went to a worker in a request about half of the time before.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvloop

from sm_contract.environment import ServingEnv
from sm_contract.listener import MAX_PAUSE_S, Listener, new_event_loop
from sm_contract.server import BALANCING_LOOP, uvicorn_config
from utils.data import free_port
from utils.entrypoints import start_serve

PING_S = 2.0  # SageMaker's bound on a /ping answer (conformance S2)
HOLD_S = 4.0  # how long a held request lasts: longer than MAX_PAUSE_S and PING_S


@pytest.fixture(params=[uvloop.Loop, asyncio.SelectorEventLoop], ids=["uvloop", "asyncio"])
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    loop = new_event_loop(request.param)
    yield loop
    loop.close()


async def _until(predicate: Callable[[], Any], timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _listen() -> tuple[Listener, list[asyncio.Transport], tuple[str, int]]:
    """A listener on a loopback socket, and the transports of the connections it accepted."""
    made: list[asyncio.Transport] = []

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)  # type: ignore[arg-type]

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    listener = await asyncio.get_running_loop().create_server(Accepted, sock=sock, backlog=8)
    assert isinstance(listener, Listener)
    return listener, made, sock.getsockname()


def test_an_occupied_worker_leaves_a_new_connection_queued_until_it_is_free(loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        listener, made, address = await _listen()
        occupancy = listener.occupancy
        occupancy.enter()  # a request of this worker is under way
        with socket.create_connection(address):
            await _until(lambda: not listener.reading)  # the connection arrived and was left in the queue
            assert made == []
            occupancy.leave()  # the request ended
            await _until(lambda: made)
            assert listener.reading and occupancy.count == 1  # the new connection counts until its first request
        listener.close()

    loop.run_until_complete(scenario())


def test_one_connection_is_taken_at_a_time(loop: asyncio.AbstractEventLoop) -> None:
    """Two connections waiting for a free worker: it takes one; the other waits for that one's request."""

    async def scenario() -> None:
        listener, made, address = await _listen()
        listener.pause()
        with socket.create_connection(address), socket.create_connection(address):
            listener.resume()
            await _until(lambda: made and not listener.reading)
            assert len(made) == 1
            listener.occupancy.leave()  # the first connection's request ended
            await _until(lambda: len(made) == 2)
        listener.close()

    loop.run_until_complete(scenario())


def test_a_worker_occupied_for_long_accepts_after_its_longest_pause(loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        listener, made, address = await _listen()
        occupancy = listener.occupancy
        occupancy.max_pause_s = 0.2
        occupancy.enter()
        with socket.create_connection(address):
            await _until(lambda: made)
            assert asyncio.get_running_loop().time() >= occupancy.since + 0.2
            assert occupancy.count == 2  # still occupied: the connection was taken all the same
        listener.close()

    loop.run_until_complete(scenario())


def test_only_several_workers_balance(tmp_path: Path) -> None:
    env = ServingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert uvicorn_config("app:app", env, workers=2).loop == BALANCING_LOOP
    assert uvicorn_config("app:app", env, workers=1).loop == "auto"
    assert uvicorn_config("app:app", env).loop == "auto"


# An ASGI app: /hold answers after ?s= seconds (noting its pid and start in HOLD_FILE), anything else at once;
# every answer gives the worker's pid and when the request started (the monotonic clock all processes share).
APP = """
import asyncio, json, os, time

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    started = time.monotonic()
    answer = json.dumps({"pid": os.getpid(), "started": started})
    if scope["path"] == "/hold":
        with open(os.environ["HOLD_FILE"], "a") as holds:
            holds.write(answer + "\\n")
        await asyncio.sleep(float(scope["query_string"].decode().split("=")[1]))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer.encode()})

def factory():
    return app
"""


class Serving:
    """``serve`` of APP with two workers on a loopback port."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "raw_app.py").write_text(APP)
        self.holds, self.port, self.log = tmp_path / "holds.txt", free_port(), tmp_path / "serve.log"
        code = "import sys; from sm_contract import server; sys.exit(server.serve('raw_app:factory'))"
        self.process = start_serve(tmp_path, code, self.port, HOLD_FILE=str(self.holds))

    def get(self, path: str = "/pid") -> dict[str, Any]:
        """One request on a new connection."""
        answer = requests.get(f"http://127.0.0.1:{self.port}{path}", headers={"Connection": "close"}, timeout=30)
        answer.raise_for_status()
        return dict(answer.json())

    def workers(self) -> set[int]:
        """Both workers' pids, once both answer (the second starts when the first is ready)."""
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 2:
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            try:
                seen.add(self.get()["pid"])
            except requests.ConnectionError:
                time.sleep(0.05)
        return seen

    def hold(self, seconds: float) -> tuple[dict[str, Any], threading.Thread]:
        """A request that lasts ``seconds``: its pid and start once it has started, and its thread."""
        count = len(self._holds())
        thread = threading.Thread(target=self.get, args=(f"/hold?s={seconds}",), daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while len(self._holds()) == count:
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.005)
        return self._holds()[-1], thread

    def _holds(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.holds.read_text().splitlines()] if self.holds.is_file() else []

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    server = Serving(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_new_connections_go_to_the_worker_that_is_not_in_a_request(serving: Serving) -> None:
    """The held request's worker runs its event loop (it awaits), so it could accept: it leaves them to the other."""
    workers = serving.workers()
    held, thread = serving.hold(HOLD_S)
    answers = [serving.get() for _ in range(20)]
    early = [a for a in answers if a["started"] < held["started"] + MAX_PAUSE_S]
    assert early, "no request started within the held worker's pause"
    assert {a["pid"] for a in early} == workers - {held["pid"]}, answers
    thread.join(HOLD_S + 30)


def test_a_new_connection_is_answered_in_time_while_every_worker_is_in_a_request(serving: Serving) -> None:
    """No worker is free: one takes the connection after its longest pause, well within SageMaker's ping bound."""
    workers = serving.workers()
    first, first_thread = serving.hold(HOLD_S)
    second, second_thread = serving.hold(HOLD_S)
    assert {first["pid"], second["pid"]} == workers  # the second went to the free worker
    started = time.monotonic()
    serving.get()
    assert time.monotonic() - started < PING_S
    first_thread.join(HOLD_S + 30)
    second_thread.join(HOLD_S + 30)
