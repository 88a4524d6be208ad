"""Several SageMaker hosts on one machine: one container per host (``algo-1``, ``algo-2``, ...) on a private
Docker network, each with its own /opt/ml tree, all running ``train``; the image starts MPI itself.

The same idea as the test suite's ``tests/utils/cluster.py``, written here for the benches: it times the job,
labels and always removes what it started, and needs neither pytest nor the tests' import path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.containers import Containers


@dataclass(frozen=True)
class HostRun:
    host: str
    exit_code: int
    seconds: float
    logs: str


def host_names(count: int) -> list[str]:
    return [f"algo-{i}" for i in range(1, count + 1)]


def train_on_hosts(
    containers: Containers, image: str, roots: Mapping[str, Path], timeout_s: float = 7200
) -> list[HostRun]:
    """``train`` on every host until all exit; each host's exit code, seconds from start to exit, and logs."""
    network = containers.client.networks.create(f"bench-{uuid.uuid4().hex[:8]}", driver="bridge")
    try:
        started = time.perf_counter()
        running = [
            (
                host,
                containers.run(
                    image,
                    "train",
                    hostname=host,
                    network=network.name,
                    volumes={str(root): {"bind": "/opt/ml", "mode": "rw"}},
                ),
            )
            for host, root in roots.items()
        ]
        runs = []
        for host, container in running:
            code = container.wait(timeout=timeout_s)["StatusCode"]
            runs.append(
                HostRun(host, code, round(time.perf_counter() - started, 2), container.logs().decode(errors="replace"))
            )
        return runs
    finally:
        containers.remove_all()
        network.remove()
