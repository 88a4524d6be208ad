"""uvicorn's httptools protocol with a bound on the request line and headers, which httptools does not have.

A request whose URL and headers together exceed ``MAX_HEADER_BYTES`` is answered 431 with a JSON error and the
connection closed, before any of it reaches the app; without the bound, headers accumulate in memory for as long
as a client sends them.

It also keeps its worker's :class:`~sm_contract.listener.Occupancy`, when a listener accepted the connection: the
connection counts from its accept until its first request ends, and again from each request's first byte to its
response's last. (A pipelined request that starts before the one ahead of it ends is not counted: the worker may
then take a new connection a little early, nothing more.)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

if TYPE_CHECKING:
    from sm_contract.listener import Occupancy

MAX_HEADER_BYTES = 64 * 1024  # URL, names and values; browsers and proxies send a few KB (nginx allows 32 KB)


class HeadersTooLarge(Exception):
    """Raised inside httptools' callbacks, which turns it into a parser error (see ``send_400_response``)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES
    header_bytes = 0
    occupancy: Occupancy | None = None  # set by the listener that accepted the connection, which counted it
    occupied = True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        if not self.occupied and self.occupancy is not None:
            self.occupied = True
            self.occupancy.enter()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._vacate()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._vacate()

    def _vacate(self) -> None:
        if self.occupied and self.occupancy is not None:
            self.occupied = False
            self.occupancy.leave()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            raise HeadersTooLarge

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error: a 431 when the error is ours."""
        if self.header_bytes <= self.max_header_bytes:
            super().send_400_response(msg)
            return
        body = json.dumps(
            {"error": "request header fields too large", "detail": f"the headers exceed {self.max_header_bytes} bytes"}
        ).encode()
        head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        self.transport.write(STATUS_LINE[431] + head + body)
        self.transport.close()
