"""How the hosts of a multi-host job meet: workers report ready to the master, the master tells them when it is done.

SageMaker starts one container per host and ends the job when all have exited; SDK local mode stops every host
as soon as the first container exits. So a worker must neither exit before the master has saved the model,
nor wait forever once the master is gone. Each worker keeps one TCP connection to the master for the whole job:
it sends ``ready <host>`` once it can take work (the master answers ``ok``), the master starts when every worker
is ready, and when the master's work has ended it sends ``done`` (or ``failed``) to every worker before exiting.
Between the two an MPI job trades SSH keys over the same connections (:meth:`Master.exchange`).

The master's port is open to whatever can reach the container, so it trusts nothing it has not checked: a
connection must come from an address of one of the job's worker hosts (their names resolved, again when an
unknown address shows up, as DNS may lag) and name that very host; it has a few seconds to say so in one short
line, and the master serves pending connections side by side, so a silent or hostile one delays nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sm_contract.errors import ContractError

logger = logging.getLogger(__name__)

PORT = 7719
WAIT_S = 900.0  # SageMaker: host names "may not be immediately available"; the toolkit waits 15 minutes
HELLO_S = 5.0  # a job host says who it is as soon as it connects
LINE_LIMIT = 1024  # the longest line of the protocol (an SSH public key) fits with room to spare
DONE, FAILED = "done", "failed"
WELCOME = "ok"  # the master's answer to a host it has accepted
Resolver = Callable[[str], set[str]]


class ClusterError(ContractError):
    """A host did not join, or the master went away without saying how its work ended."""


def addresses(host: str) -> set[str]:
    """Every address ``host`` resolves to (none while DNS does not know it yet)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return set()


@dataclass
class _Pending:
    """An accepted connection that has not said who it is yet."""

    peer: str
    deadline: float
    data: bytes = b""


@dataclass
class Master:
    """The master's side: a listener, and one connection per worker."""

    workers: Sequence[str]
    port: int = PORT
    resolve: Resolver = addresses
    links: dict[str, socket.socket] = field(default_factory=dict)
    _listener: socket.socket | None = None
    _known: dict[str, set[str]] = field(default_factory=dict)
    _resolved_at: float = -1.0

    def open(self) -> Master:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", self.port))  # noqa: S104 - the job's hosts reach it by name; peers are checked
        listener.listen(len(self.workers) + 8)
        listener.setblocking(False)
        self._listener = listener
        return self

    def wait_ready(self, timeout_s: float = WAIT_S, stop: object | None = None) -> None:
        """Block until every worker has reported ready."""
        assert self._listener is not None
        deadline = time.monotonic() + timeout_s
        pending: dict[socket.socket, _Pending] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            try:
                while set(self.workers) - set(self.links):
                    self._check_waiting(deadline, timeout_s, stop)
                    for key, _ in selector.select(timeout=0.5):
                        if key.fileobj is self._listener:
                            self._accept(selector, pending)
                        else:
                            self._hear(selector, pending, key.fileobj)  # type: ignore[arg-type]
                    for connection in [c for c, p in pending.items() if time.monotonic() > p.deadline]:
                        peer = pending[connection].peer
                        logger.warning("dropped a connection from %s: it said nothing for %.0f s", peer, HELLO_S)
                        _drop(selector, pending, connection)
            finally:
                for connection in list(pending):
                    _drop(selector, pending, connection)

    def _check_waiting(self, deadline: float, timeout_s: float, stop: object | None) -> None:
        if time.monotonic() > deadline:
            missing = sorted(set(self.workers) - set(self.links))
            raise ClusterError(f"host(s) {', '.join(missing)} did not report ready within {timeout_s:.0f} s")
        if stop is not None and getattr(stop, "requested", False):
            raise ClusterError("stopped while waiting for the other hosts")

    def _accept(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
        assert self._listener is not None
        try:
            connection, address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        peer = str(address[0])
        if self._host_of(peer) is None:
            logger.warning("refused a connection from %s: not an address of the job's hosts", peer)
            connection.close()
            return
        connection.setblocking(False)
        pending[connection] = _Pending(peer, time.monotonic() + HELLO_S)
        selector.register(connection, selectors.EVENT_READ)

    def _hear(
        self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending], connection: socket.socket
    ) -> None:
        """Read what a pending connection sent; once it is a whole line, accept it as a host or drop it."""
        state = pending[connection]
        try:
            chunk = connection.recv(LINE_LIMIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        state.data += chunk
        if chunk and b"\n" not in state.data and len(state.data) <= LINE_LIMIT:
            return
        selector.unregister(connection)
        del pending[connection]
        words = state.data.split(b"\n", 1)[0].decode(errors="replace").split()
        host = words[1] if len(words) == 2 and words[0] == "ready" else None
        if host is None or host not in self.workers or state.peer not in self._known.get(host, set()):
            logger.warning("refused a connection from %s: it did not name its own host (%r)", state.peer, words[:2])
            connection.close()
            return
        connection.setblocking(True)
        try:
            connection.sendall(f"{WELCOME}\n".encode())
        except OSError:
            connection.close()
            return
        if host in self.links:  # the host connected again (its container restarted): the new link counts
            self.links[host].close()
        self.links[host] = connection
        logger.info("host %s is ready (%d of %d)", host, len(self.links), len(self.workers))

    def _host_of(self, peer: str) -> str | None:
        """The worker ``peer`` is an address of; names are resolved again (once a second) for a new address."""
        found = next((host for host, known in self._known.items() if peer in known), None)
        if found is None and time.monotonic() - self._resolved_at >= 1.0:
            self._known = {host: self.resolve(host) for host in self.workers}
            self._resolved_at = time.monotonic()
            found = next((host for host, known in self._known.items() if peer in known), None)
        return found

    def exchange(self, line: str, timeout_s: float = 120.0, stop: object | None = None) -> dict[str, str]:
        """Send every worker ``line`` and return each one's answer (one line each), e.g. SSH keys both ways."""
        for connection in self.links.values():
            connection.sendall(line.encode() + b"\n")
        return {host: read_line(connection, timeout_s, stop) for host, connection in self.links.items()}

    def finish(self, ok: bool) -> None:
        """Tell every worker how the work ended, then close."""
        message = (DONE if ok else FAILED).encode() + b"\n"
        for host, connection in self.links.items():
            with contextlib.suppress(OSError):
                connection.sendall(message)
                connection.close()
            logger.info("told %s the job is %s", host, DONE if ok else FAILED)
        if self._listener is not None:
            self._listener.close()


def _drop(selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending], connection: socket.socket) -> None:
    selector.unregister(connection)
    del pending[connection]
    connection.close()


@contextlib.contextmanager
def master(workers: Sequence[str], port: int = PORT) -> Iterator[Master]:
    """A master that always tells its workers the outcome (``failed`` when the block raises)."""
    node = Master(workers, port).open()
    ok = False
    try:
        yield node
        ok = True
    finally:
        node.finish(ok)


def join(master_host: str, me: str, port: int = PORT, timeout_s: float = WAIT_S) -> socket.socket:
    """A worker's connection to the master, once the master has accepted it as ``me``; reports ready.

    Retried while DNS and the listener come up, and while the master cannot resolve this host's name yet (it
    then closes the connection instead of answering).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        connection = None
        try:
            connection = socket.create_connection((master_host, port), timeout=5.0)
            connection.sendall(f"ready {me}\n".encode())
            if read_line(connection, HELLO_S + 5.0) == WELCOME:
                logger.info("reported ready to the master %s", master_host)
                return connection
            raise ClusterError("unexpected answer")
        except (OSError, ClusterError) as exc:
            if connection is not None:
                connection.close()
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"master host {master_host} did not take this host for {timeout_s:.0f} s: {exc}"
                ) from None
            time.sleep(1.0)


def read_line(connection: socket.socket, timeout_s: float, stop: object | None = None) -> str:
    """One line from the other side (read a byte at a time, so nothing after it is consumed), at most
    :data:`LINE_LIMIT` bytes; ``ClusterError`` when it does not come within ``timeout_s`` or the peer leaves."""
    deadline = time.monotonic() + timeout_s
    connection.settimeout(0.5)
    data = b""
    while not data.endswith(b"\n"):
        if time.monotonic() > deadline or (stop is not None and getattr(stop, "requested", False)):
            raise ClusterError(f"no answer from {_peer(connection)} within {timeout_s:.0f} s")
        if len(data) > LINE_LIMIT:
            raise ClusterError(f"{_peer(connection)} sent a line longer than {LINE_LIMIT} bytes")
        try:
            byte = connection.recv(1)
        except TimeoutError:
            continue
        except OSError as exc:
            raise ClusterError(f"{_peer(connection)} went away: {exc}") from None
        if not byte:
            raise ClusterError(f"{_peer(connection)} closed the connection")
        data += byte
    return data.decode(errors="replace").strip()


def _peer(connection: socket.socket) -> str:
    with contextlib.suppress(OSError):
        name = connection.getpeername()
        if isinstance(name, tuple):
            return str(name[0])
    return "the other host"


def wait_for_master(connection: socket.socket, stop: object | None = None) -> str:
    """Block until the master says how the job ended: ``done``, ``failed``, or ``""`` when it vanished."""
    connection.settimeout(1.0)
    buffered = b""
    while True:
        if stop is not None and getattr(stop, "requested", False):
            return ""
        try:
            chunk = connection.recv(64)
        except TimeoutError:
            continue
        except OSError:
            return ""
        if not chunk:
            return buffered.decode(errors="replace").strip()
        buffered += chunk
        if b"\n" in buffered or len(buffered) > LINE_LIMIT:
            return buffered.split(b"\n", 1)[0].decode(errors="replace").strip()
