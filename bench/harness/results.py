"""Result files: one JSON per bench with the machine, the command, the dates, the load seen and the targets."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "byoc-bench/1"
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
LOAD_LIMIT = 1.0  # 1-minute load average above which the machine is too busy for timings
NOISY_VAR = "BENCH_ALLOW_NOISY"  # 1: run on a busy machine anyway, the result file marked noisy


@dataclass(frozen=True)
class Target:
    """One target: ``value`` compared with ``limit`` (``op`` is ``<=`` or ``>=``)."""

    name: str
    value: float | None
    op: str
    limit: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def add_noise_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-noisy",
        action="store_true",
        default=os.environ.get(NOISY_VAR) == "1",
        help=f"run even when the 1-minute load is above {LOAD_LIMIT:g} (the result is marked noisy; or {NOISY_VAR}=1)",
    )


@dataclass
class Run:
    """What a bench records about itself while it runs; ``record`` adds the end time and the load.

    A bench on a machine whose 1-minute load is above LOAD_LIMIT when it starts refuses to run, unless allowed
    (``allow_noisy``), and then its result says ``"noisy": true``.
    """

    bench: str
    allow_noisy: bool = field(default_factory=lambda: os.environ.get(NOISY_VAR) == "1")
    started: str = field(default_factory=lambda: now())
    load_before: list[float] = field(default_factory=lambda: _load())
    load_samples: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.noisy and not self.allow_noisy:
            raise SystemExit(
                f"{self.bench}: the 1-minute load is {self.load_before[0]:g}, above {LOAD_LIMIT:g}: timings would be "
                f"noise. Run it on a quiet machine, or pass --allow-noisy ({NOISY_VAR}=1) for a result marked noisy."
            )
        if self.noisy:
            print(f">> {self.bench}: 1-minute load {self.load_before[0]:g}: the result is marked noisy", flush=True)

    @property
    def noisy(self) -> bool:
        return self.load_before[0] > LOAD_LIMIT

    def sample_load(self) -> None:
        self.load_samples.append(round(os.getloadavg()[0], 2))

    def record(self, payload: dict[str, Any], targets: list[Target], images: dict[str, str] | None = None) -> dict:
        return {
            "schema": SCHEMA,
            "bench": self.bench,
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "started": self.started,
            "finished": now(),
            "machine": machine(images or {}),
            "load": {"before": self.load_before, "during_1min": self.load_samples, "after": _load()},
            "noisy": self.noisy,
            "load_limit": LOAD_LIMIT,
            "targets": [t.as_dict() for t in targets],
            **payload,
        }


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(images: dict[str, str]) -> dict[str, Any]:
    """Where the numbers come from: CPUs, memory, kernel, Python, Docker and the image ids."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
    }
    docker_version = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True)
    info["docker"] = docker_version.stdout.strip() or None
    for name, image in images.items():
        inspect = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", image], capture_output=True, text=True)
        info.setdefault("images", {})[name] = {"tag": image, "id": inspect.stdout.strip()[:19] or None}
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def write(record: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"written to {out}", flush=True)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Prints what a long bench is doing, with its duration."""
    started = dt.datetime.now()
    print(f">> {name}", flush=True)
    yield
    print(f"   {name}: {(dt.datetime.now() - started).total_seconds():.1f} s", flush=True)


def shown(path: Path) -> str:
    """A path as a result file records it: relative to the repository when inside it (no machine paths)."""
    repo = RESULTS_DIR.parents[1]
    resolved = Path(path).resolve()
    return str(resolved.relative_to(repo)) if resolved.is_relative_to(repo) else str(path)
