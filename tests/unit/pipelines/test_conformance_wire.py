"""HTTP on raw sockets against small servers that misbehave on purpose: what a client sees, reset or answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from byoc_pipelines.conformance.wire import Endpoint, connect_seconds, request

Behaviour = Callable[[socket.socket], None]


def _headers(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    return data


def _answer(status: str, body: bytes = b"") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body


@pytest.fixture
def server() -> Iterator[Callable[[Behaviour], Endpoint]]:
    sockets: list[socket.socket] = []

    def start(behaviour: Behaviour) -> Endpoint:
        listener = socket.create_server(("127.0.0.1", 0))
        sockets.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                behaviour(conn)

        threading.Thread(target=serve, daemon=True).start()
        return Endpoint("127.0.0.1", listener.getsockname()[1])

    yield start
    for listener in sockets:
        listener.close()


def test_an_answer_is_read_with_its_headers(server: Callable[[Behaviour], Endpoint]) -> None:
    def ok(conn: socket.socket) -> None:
        head = _headers(conn)
        assert b"POST /invocations HTTP/1.1" in head and b"Content-Length: 2" in head
        conn.sendall(
            _answer("200 OK", b'{"a": 1}').replace(b"Connection", b"Content-Type: application/json\r\nConnection")
        )

    reply = server(ok).post("/invocations", b"{}", {"Content-Type": "application/json"})
    assert (reply.status, reply.body, reply.media_type, reply.error) == (200, b'{"a": 1}', "application/json", None)


def test_an_early_413_is_still_read_when_the_server_drains(server: Callable[[Behaviour], Endpoint]) -> None:
    def refuse_then_drain(conn: socket.socket) -> None:
        head = _headers(conn)
        conn.sendall(_answer("413 Payload Too Large", b'{"error": "too large"}'))
        size = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        while size > 0 and (chunk := conn.recv(1 << 20)):
            size -= len(chunk)

    reply = server(refuse_then_drain).post("/invocations", b"x" * (8 << 20), timeout=10)
    assert (reply.status, reply.body) == (413, b'{"error": "too large"}')


def test_a_server_that_closes_on_an_unread_body_is_a_reset(server: Callable[[Behaviour], Endpoint]) -> None:
    def close_unread(conn: socket.socket) -> None:
        _headers(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close

    reply = server(close_unread).post("/invocations", b"x" * (8 << 20), timeout=10)
    assert reply.status is None and reply.error in ("reset", "closed")


def test_refused_and_timed_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    assert request("127.0.0.1", port, "GET", "/ping", timeout=2).error == "refused"
    assert connect_seconds("127.0.0.1", port) is None
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the kernel does), never answers
        reply = request("127.0.0.1", silent.getsockname()[1], "GET", "/ping", timeout=0.3)
        assert (reply.status, reply.error) == (None, "timeout") and reply.seconds >= 0.3
        assert (connect_seconds("127.0.0.1", silent.getsockname()[1]) or 1.0) < 0.25
