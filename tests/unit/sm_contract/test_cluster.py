"""The hosts' rendezvous over TCP: ready, then done / failed, or a master that vanished."""

from __future__ import annotations

import threading

import pytest

from sm_contract.script_mode import cluster
from utils.data import free_port


def _worker(port: int, name: str, verdicts: dict[str, str]) -> threading.Thread:
    def run() -> None:
        link = cluster.join("127.0.0.1", name, port=port, timeout_s=10)
        verdicts[name] = cluster.wait_for_master(link)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize(("ok", "verdict"), [(True, "done"), (False, "failed")])
def test_workers_wait_for_the_masters_verdict(ok: bool, verdict: str) -> None:
    port = free_port()
    master = cluster.Master(["algo-2", "algo-3"], port=port).open()
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
    master = cluster.Master(["algo-2"], port=port).open()
    verdicts: dict[str, str] = {}
    thread = _worker(port, "algo-2", verdicts)
    master.wait_ready(timeout_s=10)
    for connection in master.links.values():
        connection.close()  # as when the master's container dies
    thread.join(10)
    assert verdicts == {"algo-2": ""}


def test_a_host_that_never_reports_is_named() -> None:
    master = cluster.Master(["algo-2"], port=free_port()).open()
    with pytest.raises(cluster.ClusterError, match="algo-2 did not report ready within 1 s"):
        master.wait_ready(timeout_s=1)
    master.finish(False)


def test_an_unreachable_master_is_named() -> None:
    with pytest.raises(cluster.ClusterError, match=r"master host 127\.0\.0\.1 unreachable"):
        cluster.join("127.0.0.1", "algo-2", port=free_port(), timeout_s=1)
