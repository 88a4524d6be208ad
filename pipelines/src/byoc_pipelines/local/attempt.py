"""One attempt of a training job: a container per host on a network of its own, until every host has exited.

The containers run ``docker run IMAGE train`` with each host's ``/opt/ml`` (:mod:`byoc_pipelines.local.job_files`)
and reach each other as ``algo-1``, ``algo-2``, ... (network aliases). Their output goes to this process's
standard output line by line, prefixed with the job and host, and is kept for metric definitions and for tests
that wait on a line. A stop, a spot interruption or the end of ``MaxRuntimeInSeconds`` sends SIGTERM to every
container and SIGKILL to those still running ``grace_s`` later (SageMaker's 120 s); a host that fails stops the
others the same way. Everything waits on events, never on fixed sleeps.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from byoc_pipelines.local.job_files import HostTree


class Signals:
    """What may end an attempt early, shared between the API thread and the attempt's monitor."""

    STOP = "stop"  # StopTrainingJob, or an aborted execution
    INTERRUPT = "interrupt"  # a spot interruption
    MAX_RUNTIME = "max-runtime"  # StoppingCondition.MaxRuntimeInSeconds reached


@dataclass
class Attempt:
    """The live state of one attempt: log lines, exit codes, the reason it was signalled, and a condition."""

    number: int
    hosts: Sequence[str]
    changed: threading.Condition = field(default_factory=threading.Condition)
    lines: dict[str, list[str]] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    exited_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of each exit
    signalled: str | None = None  # one of Signals once SIGTERM went out
    signalled_at: float | None = None
    requested: str | None = None  # a signal asked for and not yet sent

    def request(self, reason: str) -> None:
        with self.changed:
            if self.requested is None and self.signalled is None:
                self.requested = reason
            self.changed.notify_all()

    def add_line(self, host: str, line: str) -> None:
        with self.changed:
            self.lines.setdefault(host, []).append(line)
            self.changed.notify_all()

    def add_exit(self, host: str, code: int) -> None:
        with self.changed:
            self.exits[host], self.exited_at[host] = code, time.monotonic()
            self.changed.notify_all()

    def finished(self) -> bool:
        return len(self.exits) == len(self.hosts)

    def after_signal_s(self, host: str) -> float | None:
        """Seconds from SIGTERM to the exit of ``host``, when this attempt was signalled."""
        if self.signalled_at is None or host not in self.exited_at:
            return None
        return self.exited_at[host] - self.signalled_at

    def failed_host(self) -> str | None:
        return next((host for host in self.hosts if self.exits.get(host, 0) != 0), None)

    def wait_for_line(self, pattern: str, timeout_s: float) -> bool:
        """True once some host logged a line matching ``pattern``; False when the attempt ended or time ran out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                if any(regex.search(line) for lines in self.lines.values() for line in lines):
                    return True
                remaining = deadline - time.monotonic()
                if self.finished() or remaining <= 0:
                    return False
                self.changed.wait(remaining)


Echo = Callable[[str], None]


def echo_to_stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Launch:
    """How to start an attempt's containers."""

    job: str
    image: str
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    grace_s: float = 120.0  # SageMaker's time between SIGTERM and SIGKILL (botocore StopTrainingJob)
    max_runtime_s: float | None = None
    echo: Echo = echo_to_stdout


def _pump_logs(container: Any, host: str, attempt: Attempt, launch: Launch) -> None:
    pending = b""

    def emit(raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        attempt.add_line(host, line)
        launch.echo(f"{launch.job} {host} | {line}")

    with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
        for chunk in container.logs(stream=True, follow=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                emit(raw)
    if pending:  # a last line without its newline
        emit(pending)


def _await_exit(container: Any, host: str, attempt: Attempt) -> None:
    try:
        code = int(container.wait()["StatusCode"])
    except (docker.errors.APIError, docker.errors.NotFound):
        code = 137  # removed from under us: as good as killed
    attempt.add_exit(host, code)


def _start(client: Any, launch: Launch, trees: Sequence[HostTree], network: str, containers: list[Any]) -> None:
    """A container per host, appended to ``containers`` as each starts (so a failure leaves none behind)."""
    for tree in trees:
        endpoint = client.api.create_endpoint_config(aliases=[tree.host])
        containers.append(
            client.containers.run(
                launch.image,
                "train",
                detach=True,
                hostname=tree.host,
                network=network,
                networking_config={network: endpoint},
                volumes=tree.volumes(),
                environment=dict(launch.environment),
                labels=dict(launch.labels),
            )
        )


def _signal(containers: Sequence[Any], signal: str) -> None:
    for container in containers:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
                container.kill(signal=signal)


def _monitor(containers: Sequence[Any], attempt: Attempt, launch: Launch) -> None:
    """Wait until every host exited, sending SIGTERM when asked (or a host failed) and SIGKILL after the grace."""
    started, killed = time.monotonic(), False
    runtime_ends = None if launch.max_runtime_s is None else started + launch.max_runtime_s
    with attempt.changed:
        while not attempt.finished():
            now = time.monotonic()
            if runtime_ends is not None and now >= runtime_ends:
                attempt.request(Signals.MAX_RUNTIME)
            if attempt.signalled is None and (attempt.requested or attempt.failed_host()):
                attempt.signalled, attempt.signalled_at = attempt.requested or "host-failed", now
                _signal(containers, "SIGTERM")
            kill_at = None if attempt.signalled_at is None else attempt.signalled_at + launch.grace_s
            if kill_at is not None and now >= kill_at and not killed:
                _signal(containers, "SIGKILL")
                killed = True
            deadlines = [t for t in (runtime_ends, kill_at) if t is not None and t > now]
            attempt.changed.wait(min(deadlines) - now if deadlines else None)


def run_attempt(client: Any, launch: Launch, trees: Sequence[HostTree], attempt: Attempt) -> None:
    """Start a container per host, stream their logs, wait for them all; containers and network are removed."""
    network = client.networks.create(
        f"{launch.job}-{attempt.number}-{time.time_ns() % 10**8}", labels=dict(launch.labels)
    )
    containers: list[Any] = []
    threads: list[threading.Thread] = []
    try:
        _start(client, launch, trees, network.name, containers)
        for container, tree in zip(containers, trees, strict=True):
            for target in (_pump_logs, _await_exit):
                args = (
                    (container, tree.host, attempt, launch) if target is _pump_logs else (container, tree.host, attempt)
                )
                thread = threading.Thread(target=target, args=args, daemon=True)
                thread.start()
                threads.append(thread)
        _monitor(containers, attempt, launch)
    finally:
        for thread in threads:
            thread.join(timeout=10)
        for container in containers:
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
                container.remove(force=True)
        with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
            network.remove()
