"""HTTP on raw sockets: what a check needs to see that a library would hide (a reset, the connect time).

Every request is one connection (``Connection: close``); the answer is parsed with the standard library's
``http.client.HTTPResponse``. A server that stops reading a large body and answers early is read the way a
careful client (urllib3) reads it: the write fails, the answer is still read. Only when no answer can be read
is the outcome a reset.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # read at most this much of an answer


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: no HTTP answer (see error)
    seconds: float
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    error: str | None = None  # "refused", "timeout", "reset", "closed" (no or a partial answer)

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def describe(self) -> str:
        """``200, 1,234 bytes in 0.012 s`` or ``reset after 0.5 s``."""
        if self.status is None:
            return f"{self.error} after {self.seconds:.3f} s"
        return f"{self.status}, {len(self.body):,} bytes in {self.seconds:.3f} s"


def _head(method: str, path: str, host: str, port: int, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read(sock: socket.socket, method: str) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
        body = response.read(MAX_ANSWER_BYTES)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        response.close()


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60.0,
) -> Reply:
    """One request; never raises for what the server does (refusal, timeout, reset), only reports it."""
    started = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - started

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return Reply(None, elapsed(), error="refused")
    except OSError as exc:
        return Reply(None, elapsed(), error="timeout" if isinstance(exc, TimeoutError) else f"connect failed: {exc}")
    with sock:
        try:
            sock.sendall(_head(method, path, host, port, headers or {}, body if method != "GET" else None))
            if body:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading; its answer may be waiting: read it below
        except TimeoutError:
            return Reply(None, elapsed(), error="timeout")
        try:
            status, answer_headers, answer = _read(sock, method)
        except TimeoutError:
            return Reply(None, elapsed(), error="timeout")
        except ConnectionResetError:
            return Reply(None, elapsed(), error="reset")
        except (http.client.HTTPException, ConnectionError):
            return Reply(None, elapsed(), error="closed")
    return Reply(status, elapsed(), answer, answer_headers)


def connect_seconds(host: str, port: int, timeout: float = 5.0) -> float | None:
    """How long the server's kernel takes to accept a TCP connection (None: refused or timed out)."""
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return time.perf_counter() - started
    except OSError:
        return None


class Endpoint:
    """A server at ``host:port``: shorthands for the requests checks make."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def get(self, path: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> Reply:
        return request(self.host, self.port, "GET", path, headers=headers, timeout=timeout)

    def post(self, path: str, body: bytes, headers: Mapping[str, str] | None = None, timeout: float = 60.0) -> Reply:
        return request(self.host, self.port, "POST", path, headers=headers, body=body, timeout=timeout)

    def delete(self, path: str, timeout: float = 10.0) -> Reply:
        return request(self.host, self.port, "DELETE", path, timeout=timeout)

    def connect_seconds(self) -> float | None:
        return connect_seconds(self.host, self.port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"
