"""S1.port's "serves on the wrong port" verdict, against real servers on loopback and a listener table read at the
wrong moment (the kernel's listing can show one of two sockets that started listening together)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from byoc_pipelines.conformance import ports
from byoc_pipelines.conformance.procfs import Listener
from utils.data import free_port


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def ping_servers() -> Iterator[Callable[[], int]]:
    """Starts servers answering /ping 200 on loopback; each call returns a new one's port."""
    servers: list[ThreadingHTTPServer] = []

    def start() -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


ANY = "0.0.0.0"  # noqa: S104 - an address as the listener table shows it, nothing binds to it


class _Box:
    """What ``_serving_elsewhere`` reads of a container: its listener table, as one read of it saw it."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.seen = listeners

    def listeners(self) -> list[Listener]:
        return self.seen


def test_a_server_answering_only_elsewhere_is_on_the_wrong_port(ping_servers: Callable[[], int]) -> None:
    other = ping_servers()
    box = _Box([Listener(ANY, other)])
    nothing = free_port()  # nothing listens there: connections are refused
    assert ports._serving_elsewhere(box, "127.0.0.1", nothing) == other  # type: ignore[arg-type]


def test_a_stale_read_missing_the_expected_port_is_not_the_wrong_port(ping_servers: Callable[[], int]) -> None:
    expected, other = ping_servers(), ping_servers()  # both answer /ping
    box = _Box([Listener(ANY, other)])  # the table missed the expected port's socket
    assert ports._serving_elsewhere(box, "127.0.0.1", expected) is None  # type: ignore[arg-type]
