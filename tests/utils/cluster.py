"""Several SageMaker hosts on one machine: a container per host on a private Docker network, named like algo-N."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from utils.containers import TrackedContainer


@dataclass(frozen=True)
class HostResult:
    host: str
    exit_code: int
    logs: str


def run_hosts(
    client: docker.DockerClient,
    image: str,
    roots: Mapping[str, Path],
    *,
    environment: Mapping[str, str] | None = None,
    timeout_s: float = 600,
) -> list[HostResult]:
    """``train`` on every host (each with its own /opt/ml tree) until all exit; containers and network removed."""
    network = client.networks.create(f"sm-test-{uuid.uuid4().hex[:8]}", driver="bridge")
    hosts: list[tuple[str, TrackedContainer]] = []
    try:
        for host, root in roots.items():
            tracked = TrackedContainer(client, image)
            tracked.run(
                "train",
                opt_ml=root,
                hostname=host,
                network=network.name,
                environment=dict(environment or {}),
            )
            hosts.append((host, tracked))
        return [HostResult(host, tracked.wait(timeout_s), tracked.logs()) for host, tracked in hosts]
    finally:
        for _, tracked in hosts:
            tracked.remove()
        network.remove()


def host_names(count: int) -> Sequence[str]:
    return [f"algo-{i}" for i in range(1, count + 1)]
