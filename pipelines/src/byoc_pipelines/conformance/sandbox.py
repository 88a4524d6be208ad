"""Running an image as SageMaker does: a generated /opt/ml, the argument, the environment, the mounts, a network.

Every container and the network of a run carry the label ``byoc.conformance.run=<run id>``; the run removes
exactly those at the end (whatever happened), after saving each container's log under the run's folder. The
suite talks to a container at its address on the run's network, as SageMaker's front end does, never through a
published port (Docker's userland proxy would accept connections itself and hide resets).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from byoc_pipelines.conformance import procfs
from byoc_pipelines.conformance.wire import Endpoint
from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.local.job_files import Mount, resource_config

logger = logging.getLogger(__name__)

LABEL = "byoc.conformance.run"
DOCKER_TIMEOUT_S = 300


@dataclass(frozen=True)
class Hosts:
    """The cluster of a training job: ``algo-1..N`` on one network, as SageMaker names them."""

    names: tuple[str, ...] = ("algo-1",)
    current: str = "algo-1"


def write_opt_ml(
    root: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, Path | None], hosts: Hosts
) -> list[Mount]:
    """The /opt/ml tree SageMaker writes for a training job; returns the channel mounts (read-only sources).

    Every hyperparameter value is a string; ``inputdataconfig.json`` and ``resourceconfig.json`` have SageMaker's
    fields. A channel without a source is an empty folder.
    """
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
    data_config = {
        name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name in channels
    }
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    (config / "resourceconfig.json").write_text(json.dumps(resource_config(hosts.current, hosts.names, "local")))
    mounts = []
    for name, source in channels.items():
        folder = root / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        if source is not None:
            mounts.append(Mount(source.resolve(), f"/opt/ml/input/data/{name}"))
    for sub in ("model", "output/data", "checkpoints", "code"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return mounts


@dataclass
class Box:
    """One container of the run."""

    sandbox: Sandbox
    name: str
    container: Any
    started: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self.container.start()
        self.started = time.monotonic()

    def reload(self) -> Any:
        self.container.reload()
        return self.container.attrs

    @property
    def ip(self) -> str:
        networks = self.reload()["NetworkSettings"]["Networks"]
        return str(networks[self.sandbox.network_name]["IPAddress"])

    def endpoint(self, port: int = 8080) -> Endpoint:
        return Endpoint(self.ip, port)

    @property
    def pid(self) -> int:
        return int(self.reload()["State"]["Pid"])

    def running(self) -> bool:
        return self.reload()["State"]["Status"] in ("created", "running", "restarting")

    def exit_code(self) -> int | None:
        state = self.reload()["State"]
        return None if state["Status"] in ("created", "running", "restarting") else int(state["ExitCode"])

    def oom_killed(self) -> bool:
        return bool(self.reload()["State"].get("OOMKilled"))

    def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if still running after ``timeout_s``."""
        try:
            return int(self.container.wait(timeout=timeout_s)["StatusCode"])
        except Exception:  # requests' ReadTimeout or ConnectionError wrapped by the SDK: still running
            return self.exit_code()

    def signal(self, name: str = "SIGTERM") -> None:
        self.container.kill(signal=name)

    def stop_seconds(self, patience_s: float) -> tuple[float | None, int | None]:
        """SIGTERM, then wait: ``(seconds until it exited, exit code)``; ``(None, None)`` if it outlived
        ``patience_s``."""
        started = time.monotonic()
        self.signal("SIGTERM")
        code = self.wait(patience_s)
        return (time.monotonic() - started, code) if code is not None else (None, None)

    def logs(self) -> str:
        with contextlib.suppress(docker.errors.APIError):
            return str(self.container.logs().decode("utf-8", errors="replace"))
        return ""

    def wait_for_output(self, timeout_s: float) -> bool:
        """True once the container has written anything (its first log line), False if it exited or time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.container.logs(tail=1):
                return True
            if not self.running():
                return bool(self.container.logs(tail=1))
            time.sleep(0.1)
        return False

    def listeners(self) -> list[procfs.Listener]:
        return procfs.listeners(self.pid)

    def init_process(self) -> procfs.Process:
        return procfs.process(self.pid)


class Sandbox:
    """The run: a Docker client, a network, a folder, and every container it starts."""

    def __init__(self, image: str, folder: Path, client: Any = None) -> None:
        self.image = image
        self.client = client or docker.from_env(timeout=DOCKER_TIMEOUT_S)
        self.run_id = uuid.uuid4().hex[:10]
        self.labels = {LABEL: self.run_id}
        self.folder = folder
        self.network_name = f"conformance-{self.run_id}"
        self.network: Any = None
        self.boxes: list[Box] = []
        self.lock = threading.Lock()

    def __enter__(self) -> Sandbox:
        if self.folder.exists():
            try:
                shutil.rmtree(self.folder)
            except PermissionError as exc:  # the last run's containers wrote as root
                raise ConfigurationError(f"cannot clear {self.folder} ({exc}): remove it as root") from None
        (self.folder / "logs").mkdir(parents=True)
        self.network = self.client.networks.create(self.network_name, driver="bridge", labels=self.labels)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def inspect_image(self) -> dict[str, Any]:
        return dict(self.client.images.get(self.image).attrs)

    def start(self, name: str, command: list[str] | None, **kwargs: Any) -> Box:
        box = self.create(name, command, **kwargs)
        box.start()
        return box

    def create(
        self,
        name: str,
        command: list[str] | None,
        *,
        mounts: Sequence[Mount] = (),
        environment: Mapping[str, str] | None = None,
        hostname: str | None = None,
        memory_mb: int | None = None,
    ) -> Box:
        """Create a container of the image on the run's network (``hostname`` is also its DNS name)."""
        volumes = {str(m.source.resolve()): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in mounts}
        aliases = [hostname] if hostname else []
        options: dict[str, Any] = {"mem_limit": f"{memory_mb}m", "memswap_limit": f"{memory_mb}m"} if memory_mb else {}
        container = self.client.containers.create(
            self.image,
            command,
            name=f"conformance-{self.run_id}-{name}",
            hostname=hostname,
            labels=self.labels,
            environment=dict(environment or {}),
            volumes=volumes,
            network=self.network_name,
            networking_config={self.network_name: self.client.api.create_endpoint_config(aliases=aliases)},
            **options,
        )
        box = Box(self, name, container)
        with self.lock:
            self.boxes.append(box)
        return box

    def remove(self, box: Box) -> None:
        """Save the container's log, then remove it (forced: it may still run)."""
        with self.lock:
            if box not in self.boxes:
                return
            self.boxes.remove(box)
        (self.folder / "logs" / f"{box.name}.log").write_text(box.logs())
        with contextlib.suppress(docker.errors.NotFound):
            box.container.remove(force=True)

    def close(self) -> None:
        """Remove this run's containers (by label, so none is missed) and its network."""
        for box in list(self.boxes):
            with contextlib.suppress(docker.errors.APIError):
                self.remove(box)
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        if self.network is not None:
            try:
                self.network.remove()
            except docker.errors.APIError as exc:  # NotFound, or an endpoint still attached
                logger.warning("network %s not removed: %s", self.network_name, exc)
            self.network = None
