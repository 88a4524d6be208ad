"""A fleet: the instances of one production variant of one endpoint config (the blue or the green fleet).

Instances are started in parallel and take traffic once healthy; requests go round-robin over the healthy
ones, so the instances of a variant share its traffic. Scale-in drains before it stops.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from byoc_pipelines.local.endpoints.instances import Instance, Launch, StartupError, instance_name
from byoc_pipelines.local.endpoints.models import ModelData, ModelSpec

# DG "Use your own inference code with hosting services": pass /ping within 4 minutes of start-up by default.
DEFAULT_STARTUP_TIMEOUT_S = 240.0


@dataclass
class Context:
    """What every instance of an emulator shares: Docker, labels, folders, limits."""

    docker: Any
    labels: dict[str, str]
    root: Path  # models/ (extracted archives), instances/ (per-instance folders), logs/ (stopped containers' logs)
    model_data: ModelData
    invocation_timeout_s: float = 60.0
    startup_timeout_s: float | None = None  # None: the variant's own, else DEFAULT_STARTUP_TIMEOUT_S

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"


class Fleet:
    """The instances of variant ``variant["VariantName"]`` of endpoint config ``config``."""

    def __init__(self, endpoint: str, config: str, variant: Mapping[str, Any], model: ModelSpec, ctx: Context) -> None:
        self.endpoint, self.config, self.variant, self.model, self.ctx = endpoint, config, dict(variant), model, ctx
        self.instances: list[Instance] = []
        self.resolved: dict[str, Any] = {}
        self.closed = False  # stopped: instances still coming up are stopped instead of joining
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.variant["VariantName"])

    @property
    def size(self) -> int:
        return len(self.instances)

    def ready(self) -> list[Instance]:
        return [i for i in self.instances if i.state == "InService"]

    def pick(self, prefer: Callable[[Instance], bool] | None = None) -> Instance | None:
        """The next healthy instance (one ``prefer`` likes first), its request counted in flight (the caller
        releases it)."""
        with self._lock:
            candidates = list(self.instances)
        if not candidates:
            return None
        start = next(self._turn)
        ordered = [candidates[(start + k) % len(candidates)] for k in range(len(candidates))]
        if prefer is not None:
            ordered.sort(key=lambda instance: not prefer(instance))  # stable: round-robin within each group
        for instance in ordered:
            if instance.acquire():
                return instance
        return None

    def deployed_images(self) -> list[dict[str, Any]]:
        """``DeployedImages`` of DescribeEndpoint: the image as given, and as resolved (by digest) when started."""
        return [dict(self.resolved)] if self.resolved else [{"SpecifiedImage": self.model.image}]

    def resolve_image(self) -> None:
        """Find the image (pulling it when absent) and note its digest, as SageMaker resolves tags at deployment."""
        try:
            image = self.ctx.docker.images.get(self.model.image)
        except docker.errors.ImageNotFound:
            try:
                image = self.ctx.docker.images.pull(self.model.image)
            except docker.errors.DockerException as exc:
                raise StartupError(
                    f"image {self.model.image} is not on this machine and could not be pulled: {exc}"
                ) from exc
        except docker.errors.DockerException as exc:
            raise StartupError(f"image {self.model.image}: {exc}") from exc
        digests = image.attrs.get("RepoDigests") or []
        self.resolved = {
            "SpecifiedImage": self.model.image,
            "ResolvedImage": digests[0] if digests else f"{repository(self.model.image)}@{image.id}",
            "ResolutionTime": datetime.datetime.now(datetime.UTC),
        }

    def startup_timeout_s(self) -> float:
        if self.ctx.startup_timeout_s is not None:
            return self.ctx.startup_timeout_s
        return float(self.variant.get("ContainerStartupHealthCheckTimeoutInSeconds", DEFAULT_STARTUP_TIMEOUT_S))

    def _new_instance(self) -> Instance:
        name = instance_name(self.endpoint, self.name)
        model_dir = None if self.model.multi_model else self.ctx.model_data.folder(self.model)
        launch = Launch(
            self.ctx.docker,
            self.ctx.labels,
            self.ctx.root / "instances" / name,
            model_dir,
            self.ctx.invocation_timeout_s,
        )
        return Instance(name, self.name, self.model, launch)

    def add(self, count: int) -> list[Instance]:
        """Start ``count`` instances and wait until each passes /ping; none is kept when one fails."""
        if not self.resolved:
            self.resolve_image()
        started = [self._new_instance() for _ in range(count)]
        timeout = self.startup_timeout_s()

        def bring_up(instance: Instance) -> str | None:
            try:
                instance.start()
                instance.wait_healthy(timeout)
            except StartupError as exc:
                return str(exc)
            return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, count)) as pool:
            failures = [error for error in pool.map(bring_up, started) if error is not None]
        with self._lock:
            closed = self.closed
            if not failures and not closed:
                self.instances.extend(started)
                return started
        for instance in started:
            instance.stop(self.ctx.log_dir, drain_timeout_s=0)
        if closed:
            raise StartupError(f"variant {self.name} was deleted while its instances started")
        raise StartupError(
            f"The primary container for production variant {self.name} did not pass the ping health check: "
            f"{failures[0]}"
        )

    def remove(self, count: int) -> None:
        """Drain and stop the newest ``count`` instances."""
        with self._lock:
            keep = len(self.instances) - count
            leaving, self.instances = self.instances[keep:], self.instances[:keep]
        _stop_all(leaving, self.ctx.log_dir)

    def stop(self) -> None:
        with self._lock:
            self.closed = True
            leaving, self.instances = self.instances, []
        _stop_all(leaving, self.ctx.log_dir)


def repository(image: str) -> str:
    """``registry:5000/name:tag`` -> ``registry:5000/name`` (a digest reference keeps its name part)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def _stop_all(instances: list[Instance], log_dir: Path) -> None:
    if not instances:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(instances)) as pool:
        list(pool.map(lambda instance: instance.stop(log_dir), instances))
