"""One endpoint instance: a container of the model's image running ``serve``, and HTTP to it.

The container gets what SageMaker gives a hosting container (DG "Use your own inference code with hosting
services"): ``serve`` as its argument, the model's environment, ``/opt/ml/model`` (or ``/opt/ml/models`` for a
multi-model container), port 8080 (published on a free loopback port here). It is healthy once ``GET /ping``
answers 200 (each ping may take 2 s); on scale-in or update it is drained, then stopped with SIGTERM and, 30 s
later, SIGKILL, as SageMaker does. The instance counts its requests in flight, so draining waits for them.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import urllib3

from byoc_pipelines.local.endpoints.models import MODEL_DIR, MODELS_DIR, ModelSpec

logger = logging.getLogger(__name__)

PING_TIMEOUT_S = 2.0  # DG: each /ping must answer within 2 s
STOP_TIMEOUT_S = 30  # DG: SIGKILL 30 s after SIGTERM
CONNECT_TIMEOUT_S = 2.0
LOG_TAIL = 60
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\w*: .+")  # a traceback's last line
_SEQUENCE = itertools.count(1)


class StartupError(RuntimeError):
    """The container exited or never answered /ping in time; the message says which, with its last log lines."""


class Unreachable(RuntimeError):
    """Nothing listens on the instance's port (the container went away): no byte of the request was sent."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Launch:
    """How to start a container: everything but the model comes from the endpoint (labels, folders)."""

    docker_client: Any
    labels: dict[str, str]
    work_dir: Path  # this instance's own folder (a multi-model container's /opt/ml/models)
    model_dir: Path | None  # mounted at /opt/ml/model
    invocation_timeout_s: float
    extra_env: dict[str, str] = field(default_factory=dict)


class Instance:
    """A running container of one variant; ``state`` is Pending, InService, Unhealthy, Draining or Stopped."""

    def __init__(self, name: str, variant: str, model: ModelSpec, launch: Launch) -> None:
        self.name, self.variant, self.model, self.launch = name, variant, model, launch
        self.state = "Pending"
        self.container: Any = None
        self.port = 0
        self.pool: urllib3.HTTPConnectionPool | None = None
        self.in_flight = 0
        self.failed_pings = 0
        self.loaded: OrderedDict[str, str] = OrderedDict()  # multi-model: model_name -> TargetModel, LRU first
        self.model_lock = threading.Lock()  # multi-model: one load or unload at a time
        self._cond = threading.Condition()

    @property
    def models_dir(self) -> Path:
        return self.launch.work_dir / "models"

    def start(self) -> None:
        volumes = dict(self.model.code_volume())
        if self.model.multi_model:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(self.models_dir)] = {"bind": MODELS_DIR, "mode": "ro"}
        elif self.launch.model_dir is not None:
            volumes[str(self.launch.model_dir)] = {"bind": MODEL_DIR, "mode": "rw"}
        try:
            self.container = self.launch.docker_client.containers.run(
                self.model.image,
                "serve",
                name=self.name,
                detach=True,
                environment={**self.model.container_environment(), **self.launch.extra_env},
                volumes=volumes,
                ports={"8080/tcp": ("127.0.0.1", None)},
                labels=self.launch.labels,
            )
            self.container.reload()
            self.port = int(self.container.ports["8080/tcp"][0]["HostPort"])
        except (docker.errors.DockerException, KeyError, IndexError, TypeError) as exc:
            raise StartupError(f"the container of image {self.model.image} did not start: {exc}") from exc
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=self.launch.invocation_timeout_s)
        self.pool = urllib3.HTTPConnectionPool("127.0.0.1", self.port, maxsize=64, timeout=timeout, retries=False)

    def wait_healthy(self, timeout_s: float) -> None:
        """Until /ping answers 200; :class:`StartupError` when the container exits or the time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.ping():
                with self._cond:
                    self.state = "InService"
                return
            if self.exited():
                raise StartupError(f"its container exited with code {self.exit_code()}{self.last_logs()}")
            if time.monotonic() > deadline:
                raise StartupError(f"/ping did not answer 200 within {timeout_s:g} s{self.last_logs()}")
            time.sleep(0.2)

    def ping(self) -> bool:
        try:
            return self.request("GET", "/ping", timeout=PING_TIMEOUT_S).status == 200
        except (Unreachable, urllib3.exceptions.HTTPError):
            return False

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """One HTTP exchange; :class:`Unreachable` when the connection is refused (nothing was sent)."""
        if self.pool is None:
            raise Unreachable(f"instance {self.name} has not started")
        options: dict[str, Any] = (
            {"timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=timeout)} if timeout else {}
        )
        try:  # without a timeout of its own, the pool's: the invocation limit
            response = self.pool.urlopen(
                method, path, body=body, headers=headers or {}, preload_content=True, release_conn=True, **options
            )
        except urllib3.exceptions.NewConnectionError as exc:
            raise Unreachable(f"instance {self.name} refused the connection: {exc}") from exc
        return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.data)

    # -- traffic -------------------------------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Count one request in flight if the instance takes traffic."""
        with self._cond:
            if self.state != "InService":
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def unreachable(self) -> None:
        """Its container refused a connection: out of routing until a health check passes again."""
        with self._cond:
            if self.state == "InService":
                self.state = "Unhealthy"
                logger.warning("instance %s refused a connection: out of routing", self.name)

    def set_health(self, healthy: bool) -> None:
        """After a health check: two failures in a row take the instance out of routing, a pass puts it back."""
        with self._cond:
            self.failed_pings = 0 if healthy else self.failed_pings + 1
            if self.state == "InService" and self.failed_pings >= 2:
                self.state = "Unhealthy"
                logger.warning("instance %s failed %d pings: out of routing", self.name, self.failed_pings)
            elif self.state == "Unhealthy" and healthy:
                self.state = "InService"

    # -- end of life ---------------------------------------------------------------------------------------------
    def stop(self, log_dir: Path | None = None, drain_timeout_s: float = 120) -> None:
        """Take no new requests, wait for those in flight, then SIGTERM (SIGKILL 30 s later) and remove."""
        with self._cond:
            self.state = "Draining"
            self._cond.wait_for(lambda: self.in_flight == 0, timeout=drain_timeout_s)
        if self.pool is not None:
            self.pool.close()  # idle keep-alive connections would hold the server's graceful shutdown
        if self.container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                self.container.stop(timeout=STOP_TIMEOUT_S)
            if log_dir is not None:
                self.save_logs(log_dir)
            with contextlib.suppress(docker.errors.DockerException):
                self.container.remove(force=True)
        with self._cond:
            self.state = "Stopped"

    def save_logs(self, log_dir: Path) -> None:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{self.name}.log").write_bytes(self.container.logs())

    def exited(self) -> bool:
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return True
        return str(self.container.status) in ("exited", "dead")

    def exit_code(self) -> Any:
        return self.container.attrs.get("State", {}).get("ExitCode")

    def last_logs(self) -> str:
        """The container's own account of its end: its last exception line, else its last log lines."""
        try:
            text = self.container.logs(tail=LOG_TAIL).decode("utf-8", errors="replace")
        except docker.errors.DockerException:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        causes = [line for line in lines if EXCEPTION_LINE.match(line)]
        shown = causes[-1:] or lines[-3:]
        return f"; its log: {' | '.join(shown)}" if shown else ""


def instance_name(endpoint: str, variant: str) -> str:
    """A Docker container name: endpoint, variant, a sequence number and a random part (other runs share Docker)."""
    return f"{endpoint}-{variant}-{next(_SEQUENCE)}-{uuid.uuid4().hex[:6]}".lower()


def docker_client() -> Any:
    return docker.from_env()
