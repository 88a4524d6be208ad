"""The hosts' rendezvous over TCP: ready, then done / failed, or a master that vanished; and what it refuses."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from sm_contract.script_mode import cluster
from utils.checks import StopAfter
from utils.data import free_port

LOCAL = {"algo-2": {"127.0.0.1"}, "algo-3": {"127.0.0.1"}}


def _master(workers: list[str], port: int, known: dict[str, set[str]] = LOCAL) -> cluster.Master:
    return cluster.Master(workers, port=port, resolve=lambda host: set(known.get(host, set()))).open()


def _worker(port: int, name: str, verdicts: dict[str, str]) -> threading.Thread:
    def run() -> None:
        link = cluster.join("127.0.0.1", name, port=port, timeout_s=10)
        verdicts[name] = cluster.wait_for_master(link)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def _waiting(master: cluster.Master, timeout_s: float) -> threading.Thread:
    """``wait_ready`` in a thread, which ends in ClusterError when nobody gets in (expected here)."""

    def wait() -> None:
        with contextlib.suppress(cluster.ClusterError):
            master.wait_ready(timeout_s=timeout_s)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def _closed_by_peer(connection: socket.socket) -> bool:
    connection.settimeout(5)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(("ok", "verdict"), [(True, "done"), (False, "failed")])
def test_workers_wait_for_the_masters_verdict(ok: bool, verdict: str) -> None:
    port = free_port()
    master = _master(["algo-2", "algo-3"], port)
    verdicts: dict[str, str] = {}
    threads = [_worker(port, name, verdicts) for name in ("algo-2", "algo-3")]
    master.wait_ready(timeout_s=10)
    assert sorted(master.links) == ["algo-2", "algo-3"]
    assert verdicts == {}  # nobody leaves before the master says so
    master.finish(ok)
    for thread in threads:
        thread.join(10)
    assert verdicts == {"algo-2": verdict, "algo-3": verdict}


def test_a_master_that_vanishes_is_reported_as_such() -> None:
    port = free_port()
    master = _master(["algo-2"], port)
    verdicts: dict[str, str] = {}
    thread = _worker(port, "algo-2", verdicts)
    master.wait_ready(timeout_s=10)
    for connection in master.links.values():
        connection.close()  # as when the master's container dies
    thread.join(10)
    assert verdicts == {"algo-2": ""}


def test_a_host_that_never_reports_is_named() -> None:
    master = _master(["algo-2"], free_port())
    with pytest.raises(cluster.ClusterError, match="algo-2 did not report ready within 1 s"):
        master.wait_ready(timeout_s=1)
    master.finish(False)


def test_an_unreachable_master_is_named() -> None:
    with pytest.raises(cluster.ClusterError, match=r"master host 127\.0\.0\.1 did not take this host for 1 s"):
        cluster.join("127.0.0.1", "algo-2", port=free_port(), timeout_s=1)


def test_a_silent_connection_neither_blocks_the_hosts_nor_outlives_its_few_seconds() -> None:
    port = free_port()
    master = _master(["algo-2"], port)
    silent = _connect(port)  # from a job host's address, but it never says a word
    verdicts: dict[str, str] = {}
    started = time.monotonic()
    thread = _worker(port, "algo-2", verdicts)
    master.wait_ready(timeout_s=30)
    assert time.monotonic() - started < cluster.HELLO_S  # the real host got in while the silent one waited
    assert _closed_by_peer(silent)  # dropped when wait_ready returned
    silent.close()
    master.finish(True)
    thread.join(10)


def test_a_stop_request_ends_the_wait_while_a_connection_stays_silent() -> None:
    port = free_port()
    master = _master(["algo-2"], port)
    silent = _connect(port)
    started = time.monotonic()
    with pytest.raises(cluster.ClusterError, match="stopped while waiting"):
        master.wait_ready(timeout_s=900, stop=StopAfter(3))
    assert time.monotonic() - started < 5
    silent.close()
    master.finish(False)


def test_connections_from_addresses_outside_the_job_are_closed_at_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    master = _master(["algo-2"], port)
    stranger = _connect(port, source="127.0.0.3")
    thread = _waiting(master, 3)
    assert _closed_by_peer(stranger)
    thread.join(10)
    stranger.close()
    assert "refused a connection from 127.0.0.3: not an address of the job's hosts" in caplog.text
    master.finish(False)


@pytest.mark.parametrize(
    "hello", [b"ready algo-3\n", b"ready algo-9\n", b"hello\n", b"x" * (cluster.LINE_LIMIT + 1)], ids=str
)
def test_a_host_naming_another_host_or_talking_nonsense_is_refused(hello: bytes) -> None:
    port = free_port()
    master = _master(["algo-2", "algo-3"], port, {"algo-2": {"127.0.0.1"}, "algo-3": {"127.0.0.3"}})
    impostor = _connect(port)  # algo-2's address
    impostor.sendall(hello)
    thread = _waiting(master, 3)
    assert _closed_by_peer(impostor)
    thread.join(10)
    impostor.close()
    assert master.links == {}
    master.finish(False)


def test_the_master_and_its_workers_trade_one_line_each() -> None:
    port = free_port()
    master = _master(["algo-2", "algo-3"], port)
    answers: dict[str, str] = {}

    def worker(name: str) -> None:
        link = cluster.join("127.0.0.1", name, port=port, timeout_s=10)
        answers[f"{name} heard"] = cluster.read_line(link, timeout_s=10)
        link.sendall(f"sshd key-of-{name}\n".encode())
        answers[f"{name} verdict"] = cluster.wait_for_master(link)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("algo-2", "algo-3")]
    for thread in threads:
        thread.start()
    master.wait_ready(timeout_s=10)
    assert master.exchange("key master-key", timeout_s=10) == {
        "algo-2": "sshd key-of-algo-2",
        "algo-3": "sshd key-of-algo-3",
    }
    master.finish(True)
    for thread in threads:
        thread.join(10)
    assert answers["algo-2 heard"] == "key master-key" and answers["algo-3 verdict"] == "done"


def test_an_answer_that_never_comes_or_never_ends_is_an_error() -> None:
    left, right = socket.socketpair()
    with pytest.raises(cluster.ClusterError, match=r"no answer from .* within 1 s"):
        cluster.read_line(left, timeout_s=1)
    right.sendall(b"y" * (cluster.LINE_LIMIT + 10))
    with pytest.raises(cluster.ClusterError, match="a line longer than"):
        cluster.read_line(left, timeout_s=5)
    right.close()
    left.close()


def test_a_worker_the_master_cannot_resolve_yet_is_taken_once_it_can() -> None:
    """SageMaker: host names "may not be immediately available"; a refused worker tries again."""
    port = free_port()
    lookups: list[str] = []

    def late_dns(host: str) -> set[str]:
        lookups.append(host)
        return {"127.0.0.1"} if len(lookups) > 2 else set()

    master = cluster.Master(["algo-2"], port=port, resolve=late_dns).open()
    verdicts: dict[str, str] = {}
    thread = _worker(port, "algo-2", verdicts)
    master.wait_ready(timeout_s=30)
    master.finish(True)
    thread.join(10)
    assert len(lookups) > 2 and verdicts == {"algo-2": "done"}
