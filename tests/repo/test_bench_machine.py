"""The whole machine's CPU time the batch bench records beside the servers' (bench/harness/machine.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from utils.data import REPO

sys.path.insert(0, str(REPO / "bench"))

from harness import machine

STAT = """cpu  100 5 30 800 40 2 8 15 0 0
cpu0 50 2 15 400 20 1 4 7 0 0
intr 12345
"""


def test_idle_and_iowait_are_not_busy_and_steal_is() -> None:
    busy, total = machine.parse(STAT)
    assert (busy, total) == (100 + 5 + 30 + 2 + 8 + 15, 1000)


def test_a_file_without_the_all_cpu_line_is_refused() -> None:
    with pytest.raises(ValueError, match="all-CPU line"):
        machine.parse(STAT.split("\n", 1)[1])


def test_a_process_that_spins_shows_as_busy_cpu_time() -> None:
    whole = machine.Cpu()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"],
        check=True,
    )
    seconds, cpus = whole.busy()
    elapsed = time.perf_counter() - started
    assert seconds >= 0.5  # the child's 0.6 s at least (ticks of 10 ms), more if anything else ran
    assert cpus >= 0.5 * 0.6 / elapsed
    per_image = whole.per_image(1000)
    assert per_image["machine_cpu_ms_per_image"] >= 0.5
