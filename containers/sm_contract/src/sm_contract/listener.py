"""Which worker takes a new connection: one with nothing to do, when there is one.

The workers share one listening socket. uvicorn's server (asyncio's or uvloop's) accepts every connection waiting
whenever its worker's event loop runs, which it also does while the worker reads a request's body. Under a batch
transform (MaxConcurrentTransforms requests of up to MaxPayloadInMB in flight) a worker reading a 1 MB body took
the next request as well while another worker stood idle, and that request waited behind the first.

Here each worker accepts through its own reader on the shared socket (the event loop's ``add_reader``), one
connection per readiness event, and leaves new connections to the other workers while it is *occupied*: while one
of its connections is new (accepted, no request started) or in a request (from the request's first byte to its
response's last). A new connection then waits in the kernel's queue for the first worker that is free.

- A worker declines for at most ``MAX_PAUSE_S`` at a time, then accepts again until it is free once more: a
  connection that never sends, a slow upload or a long request delays a new connection (SageMaker's next ``/ping``,
  which must be answered within 2 s) that long at most, however many workers are occupied.
- With one worker there is no other to leave connections to: the server keeps uvicorn's own loop (see
  ``server.uvicorn_config``).
- Nothing is paid per request on keep-alive connections but a counter: a listener stops reading the socket only
  when a connection arrives while its worker is occupied.

uvicorn takes the loop by its ``loop`` setting (an import string of a loop factory, :func:`new_event_loop`), in
every worker it forks, spawns or replaces; the loop's ``create_server(sock=...)``, the call uvicorn makes for the
sockets the supervisor bound, returns a :class:`Listener`. Other calls are the loop's own.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

MAX_PAUSE_S = 0.5  # well inside the 2 s SageMaker gives a /ping (conformance S2)
ACCEPT_RETRY_S = 1.0  # after accept() fails for want of descriptors or memory (asyncio's own delay)


class Occupancy:
    """A worker's connections that are new or in a request, and whether its listeners leave a new one to others."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_pause_s: float = MAX_PAUSE_S) -> None:
        self.loop, self.max_pause_s = loop, max_pause_s
        self.count = 0
        self.since = 0.0  # loop time of the last change from free to occupied
        self.listeners: list[Listener] = []
        self._timer: asyncio.TimerHandle | None = None

    def enter(self) -> None:
        self.count += 1
        if self.count == 1:
            self.since = self.loop.time()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._timer is not None:
            self.resume()

    def declines(self) -> bool:
        """Whether a connection arriving now is left to the other workers."""
        return self.count > 0 and self.loop.time() - self.since < self.max_pause_s

    def pause_until_free(self, listener: Listener) -> None:
        """``listener`` stops reading the socket until this worker is free, or its pause has lasted its longest."""
        listener.pause()
        if self._timer is None:
            self._timer = self.loop.call_at(self.since + self.max_pause_s, self.resume)

    def resume(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for listener in self.listeners:
            listener.resume()


class Listener:
    """Accepts connections on one listening socket into this worker's loop; what uvicorn's shutdown needs of an
    ``asyncio.Server`` (``close``, ``wait_closed``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        occupancy: Occupancy,
        backlog: int,
    ) -> None:
        self.loop, self.sock, self.protocol_factory, self.occupancy = loop, sock, protocol_factory, occupancy
        self.reading = self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        sock.setblocking(False)
        sock.listen(backlog)
        occupancy.listeners.append(self)
        self.resume()

    def resume(self) -> None:
        if not self.reading and not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._on_readable)
            self.reading = True

    def pause(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.sock.fileno())
            self.reading = False

    def close(self) -> None:
        self.pause()
        self.closed = True
        self.sock.close()  # this process's descriptor; the others keep theirs

    async def wait_closed(self) -> None:
        return None

    def _on_readable(self) -> None:
        if self.occupancy.declines():
            self.occupancy.pause_until_free(self)
            return
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued, retried later
            logger.error("cannot accept a connection (%s); retrying in %.0f s", exc, ACCEPT_RETRY_S)
            self.pause()
            self.loop.call_later(ACCEPT_RETRY_S, self.resume)
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.occupancy.enter()  # now, before the protocol exists: the next readiness event may come first
        task = self.loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        def counted() -> asyncio.Protocol:
            protocol = self.protocol_factory()
            protocol.occupancy = self.occupancy  # type: ignore[attr-defined]
            return protocol

        try:
            await self.loop.connect_accepted_socket(counted, conn)
        except Exception:  # the connection is lost before its protocol started; nothing else depends on it
            logger.exception("could not set up an accepted connection")
            conn.close()
            self.occupancy.leave()


class _Balancing:
    """Mixed into an event loop: ``create_server(sock=...)`` returns a :class:`Listener`."""

    occupancy: Occupancy

    async def create_server(self, protocol_factory: Callable[[], asyncio.Protocol], *args: Any, **kwargs: Any) -> Any:
        sock = kwargs.get("sock")
        tcp = sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6)
        if args or not tcp or kwargs.get("ssl") is not None:  # host and port, a Unix socket or TLS: the loop's own
            return await super().create_server(protocol_factory, *args, **kwargs)  # type: ignore[misc]
        return Listener(self, sock, protocol_factory, self.occupancy, kwargs.get("backlog", 100))  # type: ignore[arg-type]


def new_event_loop(base: type[asyncio.AbstractEventLoop] | None = None) -> asyncio.AbstractEventLoop:
    """A worker's event loop: ``base``'s, by default uvloop's when installed (as uvicorn's "auto")."""
    if base is None:
        try:
            import uvloop
        except ImportError:
            base = asyncio.SelectorEventLoop
        else:
            base = uvloop.Loop
    loop: asyncio.AbstractEventLoop = type(f"Balancing{base.__name__}", (_Balancing, base), {})()
    loop.occupancy = Occupancy(loop)  # type: ignore[attr-defined]
    return loop
