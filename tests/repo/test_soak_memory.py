"""The soak's memory target (bench/soak.py): each worker's RSS floor read from the host, and its trend.

A worker under load holds a heavy request about half the time, so single samples jump between two levels with no
leak at all; the floor between samples stays put unless memory is kept. The reader is checked against a real
process whose memory we grow.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from utils.data import REPO

sys.path.insert(0, str(REPO / "bench"))

import soak
from harness import containers as hc


def _samples(series: dict[str, list[float]], key: str) -> list[dict]:
    count = len(next(iter(series.values())))
    return [{"t_s": 10.0 * (i + 1), key: {pid: values[i] for pid, values in series.items()}} for i in range(count)]


def test_floor_trend_ignores_memory_in_flight_and_finds_memory_kept() -> None:
    bouncing = [106.0 if i % 3 else 200.0 for i in range(30)]  # a heavy request in one sample of three
    bouncing[-5:] = [200.0, 156.0, 200.0, 158.0, 200.0]  # ...and several at the end: single samples trend up
    assert soak.trend(_samples({"7": bouncing}, "workers_rss_mb"))["max"] > soak.MEMORY_LIMIT
    steady_floor = [106.0 + (i % 2) * 0.5 for i in range(30)]
    assert abs(soak.trend(_samples({"7": steady_floor}, soak.FLOOR), soak.FLOOR)["max"]) < 0.01

    leaking = [100.0 + 0.5 * i for i in range(30)]  # 0.5 MB kept per 10 s: +15 MB over the half
    found = soak.trend(_samples({"7": steady_floor, "11": leaking}, soak.FLOOR), soak.FLOOR)
    assert found["per_worker"]["11"] > soak.MEMORY_LIMIT
    assert found["max"] == found["per_worker"]["11"]


def test_host_reader_finds_the_children_of_pid_one_and_their_rss() -> None:
    grow = (
        "import sys, time; block = bytearray(64 * 2**20); block[::4096] = b'x' * len(block[::4096]); "
        "print('ready', flush=True); time.sleep(30)"
    )
    idle = "import sys, time; print('ready', flush=True); time.sleep(30)"
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for code in (grow, idle)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        found = hc.workers_rss_mb_host(os.getpid())
        assert set(found) >= {child.pid for child in children}  # on the host a PID is its own namespace's
        big, small = (found[child.pid] for child in children)
        assert big - small >= 60, found  # the 64 MB the first one touched
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_host_reader_falls_back_to_pid_one_when_it_serves_alone() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        found = hc.workers_rss_mb_host(child.pid)
        assert list(found) == [child.pid] and found[child.pid] > 1
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("pid", [2**22 + 1])
def test_host_reader_of_no_such_process_is_empty(pid: int) -> None:
    assert hc.workers_rss_mb_host(pid) == {}
