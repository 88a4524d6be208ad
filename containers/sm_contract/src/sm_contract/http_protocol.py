"""uvicorn's httptools protocol with a bound on the request line and headers, which httptools does not have.

A request whose URL and headers together exceed ``MAX_HEADER_BYTES`` is answered 431 with a JSON error and the
connection closed, before any of it reaches the app; without the bound, headers accumulate in memory for as long
as a client sends them.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024  # URL, names and values; browsers and proxies send a few KB (nginx allows 32 KB)


class HeadersTooLarge(Exception):
    """Raised inside httptools' callbacks, which turns it into a parser error (see ``send_400_response``)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES
    header_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0

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
