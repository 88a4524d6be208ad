"""How the hosts of a multi-host job meet: workers report ready to the master, the master tells them when it is done.

SageMaker starts one container per host and ends the job when all have exited; SDK local mode stops every host
as soon as the first container exits. So a worker must neither exit before the master has saved the model,
nor wait forever once the master is gone. Each worker keeps one TCP connection to the master for the whole job:
it sends ``ready`` once it can take work (e.g. its sshd is up), the master starts when every worker is ready,
and when the master's work has ended it sends ``done`` (or ``failed``) to every worker before exiting.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sm_contract.errors import ContractError

logger = logging.getLogger(__name__)

PORT = 7719
WAIT_S = 900.0  # SageMaker: host names "may not be immediately available"; the toolkit waits 15 minutes
DONE, FAILED = "done", "failed"


class ClusterError(ContractError):
    """A host did not join, or the master went away without saying how its work ended."""


@dataclass
class Master:
    """The master's side: a listener, and one connection per worker."""

    workers: Sequence[str]
    port: int = PORT
    links: dict[str, socket.socket] = field(default_factory=dict)
    _listener: socket.socket | None = None

    def open(self) -> Master:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", self.port))  # noqa: S104 - the job's own network
        listener.listen(len(self.workers) + 8)
        self._listener = listener
        return self

    def wait_ready(self, timeout_s: float = WAIT_S, stop: object | None = None) -> None:
        """Block until every worker has reported ready."""
        assert self._listener is not None
        deadline = time.monotonic() + timeout_s
        self._listener.settimeout(1.0)
        while set(self.workers) - set(self.links):
            if time.monotonic() > deadline:
                missing = sorted(set(self.workers) - set(self.links))
                raise ClusterError(f"host(s) {', '.join(missing)} did not report ready within {timeout_s:.0f} s")
            if stop is not None and getattr(stop, "requested", False):
                raise ClusterError("stopped while waiting for the other hosts")
            with contextlib.suppress(TimeoutError):
                connection, _ = self._listener.accept()
                connection.settimeout(timeout_s)
                words = _read_line(connection).split()
                if len(words) == 2 and words[0] == "ready":
                    self.links[words[1]] = connection
                    logger.info("host %s is ready (%d of %d)", words[1], len(self.links), len(self.workers))
                else:
                    connection.close()

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
    """A worker's connection to the master (retried while DNS and the listener come up); reports ready."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = socket.create_connection((master_host, port), timeout=5.0)
            connection.sendall(f"ready {me}\n".encode())
            logger.info("reported ready to the master %s", master_host)
            return connection
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"master host {master_host} unreachable for {timeout_s:.0f} s: {exc}") from None
            time.sleep(1.0)


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
        if b"\n" in buffered:
            return buffered.split(b"\n", 1)[0].decode(errors="replace").strip()


def _read_line(connection: socket.socket, limit: int = 256) -> str:
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = connection.recv(limit)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
