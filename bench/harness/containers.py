"""Containers of a bench: started with a label, always force-removed; servers, their CPU time and memory.

CPU time and memory come from the container's cgroup (v1 ``cpuacct``/``memory`` or v2), so they cover every
process of the server (supervisor, workers, their threads) and nothing else on the shared machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

LABEL = "byoc-bench"
BASELINE = Path(__file__).resolve().parents[1] / "baseline"  # nginx + gunicorn + Flask, as AWS's sample serves
PING_TIMEOUT_S = 180
# Each worker's pid, parent, resident memory and command line, read inside the container (no procps there).
_PROCESSES = r"""
import json, os
out = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = open(f"/proc/{pid}/status").read()
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        continue
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields.get("VmRSS", "0 kB").split()[0])
    out.append({"pid": int(pid), "ppid": int(fields["PPid"]), "rss_kb": rss, "cmd": cmd[:120]})
print(json.dumps(out))
"""


class Containers:
    """Creates containers labelled for this bench and removes every one of them at the end."""

    def __init__(self, bench: str, client: docker.DockerClient | None = None) -> None:
        self.bench = bench
        self.client = client or docker.from_env(timeout=600)
        self.started: list[Any] = []

    def run(self, image: str, command: str | list[str], **kwargs: Any) -> Any:
        container = self.client.containers.create(image, command, labels={LABEL: self.bench}, **kwargs)
        self.started.append(container)  # tracked before start: a failed start is removed too
        container.start()
        return container

    @staticmethod
    def remove(container: Any) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True)

    def remove_all(self) -> None:
        for container in self.started:
            self.remove(container)
        self.started.clear()

    def __enter__(self) -> Containers:
        # SIGTERM (e.g. make interrupted) becomes SystemExit, so that __exit__ still removes the containers.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self

    def __exit__(self, *_: object) -> None:
        self.remove_all()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Agent:
    """An idle container of an image (``sleep infinity``) in which bench code runs through ``docker exec``:
    the image's own Python and libraries, so that an in-process contender runs exactly the servers' code."""

    def __init__(self, containers: Containers, image: str, volumes: Mapping[str, str]) -> None:
        mounts = {str(Path(host).resolve()): {"bind": inside, "mode": "ro"} for host, inside in volumes.items()}
        self.container = containers.run(image, ["sleep", "infinity"], volumes=mounts, network_mode="none")

    def run_json(self, command: list[str], environment: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Runs ``command`` in the container; its last stdout line is the JSON result."""
        code, (out, err) = self.container.exec_run(command, environment=dict(environment or {}), demux=True)
        text = (out or b"").decode(errors="replace").strip()
        if code != 0 or not text:
            raise RuntimeError(
                f"{command} failed ({code}):\n{text[-2000:]}\n{(err or b'').decode(errors='replace')[-3000:]}"
            )
        return json.loads(text.splitlines()[-1])

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.container.id)


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: image, command, mounts and environment."""

    image: str
    command: str | list[str] = "serve"
    volumes: Mapping[str, str] = field(default_factory=dict)  # host path -> container path (read-only)
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Server:
    container: Any
    url: str
    cold_start_s: float

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.container.id)

    def memory(self) -> dict[str, Any]:
        return memory(self.container)

    def workers_rss_mb_host(self) -> dict[int, float]:
        if not self.container.attrs.get("State", {}).get("Pid"):
            self.container.reload()
        return workers_rss_mb_host(int(self.container.attrs["State"]["Pid"]))


def start(containers: Containers, spec: ServerSpec) -> Server:
    """A started server and the seconds from ``docker run`` to its first /ping 200."""
    port = free_port()
    volumes = {str(Path(host).resolve()): {"bind": inside, "mode": "ro"} for host, inside in spec.volumes.items()}
    started = checked = time.perf_counter()
    container = containers.run(
        spec.image,
        spec.command,
        volumes=volumes,
        environment=dict(spec.environment),
        ports={"8080/tcp": ("127.0.0.1", port)},
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return Server(container, url, time.perf_counter() - started)
        if (now := time.perf_counter()) - checked > 1:
            container.reload()
            if container.status in ("exited", "dead") or now - started > PING_TIMEOUT_S:
                logs = container.logs().decode(errors="replace")[-4000:]
                raise RuntimeError(f"{spec.image} {spec.command} never answered /ping:\n{logs}")
            checked = now
        time.sleep(0.005)


@contextlib.contextmanager
def serving(containers: Containers, spec: ServerSpec) -> Iterator[Server]:
    server = start(containers, spec)
    try:
        yield server
    finally:
        containers.remove(server.container)


def cold_starts(containers: Containers, specs: Mapping[str, ServerSpec], count: int) -> dict[str, Any]:
    """Median of ``count`` cold starts per server, the servers alternating so that load hits all alike."""
    runs: dict[str, list[float]] = {name: [] for name in specs}
    for _ in range(count):
        for name, spec in specs.items():
            server = start(containers, spec)
            containers.remove(server.container)
            runs[name].append(round(server.cold_start_s, 3))
    return {name: {"median_s": _median(seconds), "runs_s": seconds} for name, seconds in runs.items()}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return round(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2, 3)


def _cgroup_file(container_id: str, controller: str, v1_name: str, v2_name: str) -> Path | None:
    for path in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{container_id}/{v1_name}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/{v2_name}"),
        Path(f"/sys/fs/cgroup/docker/{container_id}/{v2_name}"),
    ):
        if path.is_file():
            return path
    return None


def cpu_seconds(container_id: str) -> float | None:
    """CPU time the container used so far (cgroup v1 or v2); None when the cgroup is not found."""
    path = _cgroup_file(container_id, "cpuacct", "cpuacct.usage", "cpu.stat")
    if path is None:
        return None
    text = path.read_text()
    if "usage_usec" in text:
        return int(re.search(r"usage_usec (\d+)", text)[1]) * 1e-6  # type: ignore[index]
    return int(text) * 1e-9


def memory(container: Any) -> dict[str, Any]:
    """The container's cgroup memory (bytes, without page cache where known) and every process's RSS."""
    result: dict[str, Any] = {}
    stat = _cgroup_file(container.id, "memory", "memory.stat", "memory.stat")
    if stat is not None:
        fields = dict(line.split() for line in stat.read_text().splitlines() if len(line.split()) == 2)
        anon = fields.get("total_rss", fields.get("anon"))
        result["cgroup_anon_mb"] = round(int(anon) / 2**20, 1) if anon is not None else None
    code, out = container.exec_run(["python3", "-c", _PROCESSES])
    if code == 0:
        result["processes"] = json.loads(out)
    return result


def workers_rss_mb_host(init_pid: int) -> dict[int, float]:
    """RSS of the model workers read from the host's /proc (no ``docker exec``: cheap enough to poll twice a second).

    ``init_pid`` is the container's PID 1 as the host sees it (``State.Pid``); its children are the workers (or PID 1
    itself when it serves alone), keyed by their PID inside the container, as :func:`workers_rss_mb` keys them.
    """
    found: dict[int, float] = {}
    own: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
        except OSError:  # exited meanwhile
            continue
        pid = int(proc.name)
        if pid != init_pid and int(status.get("PPid", "0").strip()) != init_pid:
            continue
        rss_kb = status.get("VmRSS", "0 kB").split()[0]
        inner = int(status.get("NSpid", proc.name).split()[-1])
        (own if pid == init_pid else found)[inner] = round(int(rss_kb) / 1024, 1)
    return found or own


def workers_rss_mb(snapshot: dict[str, Any]) -> dict[int, float]:
    """RSS of the model workers: PID 1's children (uvicorn's workers), or PID 1 itself when it serves alone."""
    processes = [p for p in snapshot.get("processes", []) if "resource_tracker" not in p["cmd"]]
    workers = [p for p in processes if p["ppid"] == 1] or [p for p in processes if p["pid"] == 1]
    return {p["pid"]: round(p["rss_kb"] / 1024, 1) for p in workers}


def build_baseline(image: str, tag: str) -> None:
    """The nginx + gunicorn + Flask baseline (bench/baseline) on top of ``image``, tagged ``tag``."""
    # Debian's client (/usr/bin/docker) has BuildKit built in, as scripts/docker/lib.sh picks it too.
    cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
    cmd = [cli, "build", "--network", "host", "--build-arg", f"BASE_IMAGE={image}", "-t", tag]
    if os.path.exists(bundle := "/etc/ssl/certs/ca-certificates.crt"):
        cmd += ["--secret", f"id=ca,src={bundle}"]
    done = subprocess.run(
        [*cmd, str(BASELINE)], env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{done.stderr[-3000:]}")
