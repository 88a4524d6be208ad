"""The whole machine's CPU time from ``/proc/stat``: what a measurement cost, whoever spent it.

A server's cgroup says what the server spent; on a 2-CPU machine the load generator and the kernel's network
path share the same CPUs, and this says how much they took besides (``busy`` is every state but idle and
iowait; ``steal`` counts as busy, since those CPUs were not ours to use).
"""

from __future__ import annotations

import os
from pathlib import Path

STAT = Path("/proc/stat")
IDLE_FIELDS = (3, 4)  # idle, iowait in the "cpu" line's user nice system idle iowait irq softirq steal ...


def parse(text: str) -> tuple[int, int]:
    """``(busy, total)`` clock ticks of all CPUs from the text of ``/proc/stat``."""
    first = text.splitlines()[0].split()
    if first[0] != "cpu":
        raise ValueError(f"/proc/stat starts with {first[0]!r}, not the all-CPU line")
    ticks = [int(v) for v in first[1:9]]  # guest time is already inside user and nice
    idle = sum(ticks[i] for i in IDLE_FIELDS)
    return sum(ticks) - idle, sum(ticks)


class Cpu:
    """Started at construction; :meth:`busy` is CPU-seconds of the machine since then."""

    def __init__(self) -> None:
        self.busy_ticks, self.total_ticks = parse(STAT.read_text())

    def busy(self) -> tuple[float, float]:
        """CPU-seconds busy since the start, and the average number of CPUs busy."""
        busy, total = parse(STAT.read_text())
        used, elapsed = busy - self.busy_ticks, total - self.total_ticks
        cpus = os.cpu_count() or 1
        seconds = used / os.sysconf("SC_CLK_TCK")
        return seconds, (cpus * used / elapsed if elapsed else 0.0)

    def per_image(self, images: int) -> dict[str, float]:
        """The machine's CPU milliseconds per image since the start, and the CPUs busy on average."""
        seconds, cpus = self.busy()
        return {"machine_cpu_ms_per_image": round(seconds * 1e3 / images, 5), "machine_busy_cpus": round(cpus, 3)}
