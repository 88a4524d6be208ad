"""SageMaker SDK local mode with shared-machine hygiene.

:class:`LocalMode` gives the SDK's boto3-shaped local clients (``sagemaker_client``,
``sagemaker_runtime_client``) and makes a run safe on a laptop or a CI machine: fake credentials and no
instance metadata lookups (nothing reaches AWS), SDK telemetry off, a free serving port picked at run time, a
per-run container root, and on exit the run's own containers removed, even after a failure.

"The run's own" is decided by labels, never by names or creation times, so a concurrent run on the same Docker
daemon keeps its containers: the SDK merges ``local.container_config`` into every compose service it writes,
which gives each container ``byoc.local-mode.run=<this run>``; and Compose labels every container with the
folder of its compose file, which for every job of this run (and a ``ModelTrainer`` whose
``local_container_root`` is under :attr:`LocalMode.root`) is inside the run's root. The shared
``sagemaker-local`` network goes only if this run created it and nothing uses it any more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from byoc_pipelines.local.endpoints import Endpoints

logger = logging.getLogger(__name__)

LOCAL_NETWORK = "sagemaker-local"  # fixed name, shared by every local-mode run on a Docker daemon
RUN_LABEL = "byoc.local-mode.run"  # on every container a LocalMode session starts
COMPOSE_FOLDER_LABEL = "com.docker.compose.project.working_dir"  # Compose's: the folder of the compose file
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
SETTLED = ("InService", "Failed", "UpdateRollbackFailed", "OutOfService")  # no change under way
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    """A loopback port nobody listens on right now (the SDK needs a number before it starts compose)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return result.stdout


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class LocalMode(contextlib.AbstractContextManager["LocalMode"]):
    """``with LocalMode() as lm: lm.sagemaker_client.create_training_job(**request)``.

    :class:`byoc_pipelines.local.runner.LocalModeRunner` takes AWS-shaped requests on top of it.
    """

    def __init__(
        self,
        root: Path | None = None,
        region: str = "us-east-1",
        serving_port: int | None = None,
        endpoint_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._own_root = root is None
        self.endpoint_settings = dict(endpoint_settings or {})  # keyword arguments of Endpoints
        self._endpoints: Endpoints | None = None
        self.root = Path(root or tempfile.mkdtemp(prefix="sm-local-"))
        self.region = region
        self.serving_port = serving_port or free_port()
        self._stack = contextlib.ExitStack()
        self.run_id = uuid.uuid4().hex[:12]
        self._network_existed = True
        self.session: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> LocalMode:
        self.root.mkdir(parents=True, exist_ok=True)
        container_root = self.root / "containers"
        container_root.mkdir(exist_ok=True)  # the SDK requires it to exist
        sdk_config = self.root / "sdk-config.yaml"
        sdk_config.write_text(TELEMETRY_OPT_OUT)
        self._stack.enter_context(
            _environ(
                {**OFFLINE_ENV, "AWS_DEFAULT_REGION": self.region, "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sdk_config)}
            )
        )
        self._network_existed = bool(_docker("network", "ls", "-q", "--filter", f"name=^{LOCAL_NETWORK}$").strip())
        import boto3
        from sagemaker.core.local.local_session import LocalSession

        boto_session = boto3.Session(
            region_name=self.region,
            aws_access_key_id=OFFLINE_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=OFFLINE_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        self.session = LocalSession(boto_session=boto_session)
        # Replaces ~/.sagemaker/config.yaml for this session only.
        self.session.config = {
            "local": {
                "local_code": True,
                "serving_port": self.serving_port,
                "container_root": str(container_root),
                "container_config": {"labels": {RUN_LABEL: self.run_id}},
            }
        }
        logger.info("local mode: root %s, serving port %d", self.root, self.serving_port)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.delete_endpoints()
        finally:
            self._remove_containers()
            self._stack.close()
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)

    # -- clients -----------------------------------------------------------------------------------------
    @property
    def sagemaker_client(self) -> Any:
        return self.session.sagemaker_client

    @property
    def endpoints(self) -> Endpoints:
        """This run's local endpoints (:mod:`byoc_pipelines.local.endpoints`), in place of the SDK's single one."""
        if self._endpoints is None:
            self._endpoints = Endpoints(
                lambda name: self.sagemaker_client.describe_model(ModelName=name),
                self.root / "endpoints",
                region=self.region,
                labels={RUN_LABEL: self.run_id},
                **self.endpoint_settings,
            )
        return self._endpoints

    @property
    def sagemaker_runtime_client(self) -> Any:
        """``invoke_endpoint(**request)`` of this run's endpoints, as boto3's runtime client has it."""
        return self.endpoints.runtime

    def delete_endpoints(self) -> None:
        """Delete every endpoint of this run: their containers drained and stopped."""
        if self._endpoints is not None:
            self._endpoints.close()
            self._endpoints = None

    def containers(self) -> list[str]:
        """IDs of this run's containers: labelled with its run, or started from a compose file under its root."""
        labelled = _docker("ps", "-aq", "--no-trunc", "--filter", f"label={RUN_LABEL}={self.run_id}").split()
        listing = _docker(
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            f"label={COMPOSE_FOLDER_LABEL}",
            "--format",
            f'{{{{.ID}}}} {{{{.Label "{COMPOSE_FOLDER_LABEL}"}}}}',
        )
        root = self.root.resolve()
        in_root = [
            cid
            for cid, _, folder in (line.partition(" ") for line in listing.splitlines())
            if folder and Path(folder).resolve().is_relative_to(root)
        ]
        return list(dict.fromkeys(labelled + in_root))

    def _remove_containers(self) -> None:
        """Remove this run's containers and labelled networks (training jobs'), then the shared network if this run
        created it and nothing else uses it."""
        ours = self.containers()
        if ours:
            _docker("rm", "-f", *ours)
        networks = _docker("network", "ls", "-q", "--filter", f"label={RUN_LABEL}={self.run_id}").split()
        if networks:
            _docker("network", "rm", *networks)
        if self._network_existed:
            return
        if not _docker("network", "inspect", "-f", "{{range .Containers}}x{{end}}", LOCAL_NETWORK).strip():
            _docker("network", "rm", LOCAL_NETWORK)

    def wait_for_endpoint(self, name: str, timeout_s: float = 300) -> dict[str, Any]:
        """DescribeEndpoint once the endpoint has stopped changing (InService, Failed, UpdateRollbackFailed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            described = self.endpoints.call("DescribeEndpoint", {"EndpointName": name})
            if described["EndpointStatus"] in SETTLED or time.monotonic() > deadline:
                return described
            time.sleep(0.25)
