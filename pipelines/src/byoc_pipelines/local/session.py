"""SageMaker SDK local mode with shared-machine hygiene.

:class:`LocalMode` gives the SDK's boto3-shaped local clients (``sagemaker_client``,
``sagemaker_runtime_client``) and makes a run safe on a laptop or a CI machine: fake credentials and no
instance metadata lookups (nothing reaches AWS), SDK telemetry off, a free serving port picked at run time, a
per-run container root, and on exit the run's containers and the compose network removed, even after a failure.
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
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

LOCAL_NETWORK = "sagemaker-local"  # fixed name, shared by every local-mode run on a Docker daemon
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
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

    def __init__(self, root: Path | None = None, region: str = "us-east-1", serving_port: int | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="sm-local-"))
        self.region = region
        self.serving_port = serving_port or free_port()
        self._stack = contextlib.ExitStack()
        self._containers_before: set[str] = set()
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
        self._containers_before = set(_docker("ps", "-aq", "--no-trunc").split())
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
            "local": {"local_code": True, "serving_port": self.serving_port, "container_root": str(container_root)}
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
    def sagemaker_runtime_client(self) -> Any:
        return self.session.sagemaker_runtime_client

    def delete_endpoints(self) -> None:
        """Stop every endpoint this process started (the SDK keeps them in class-level state)."""
        from sagemaker.core.local.local_session import LocalSagemakerClient

        for name in list(LocalSagemakerClient._endpoints):
            with contextlib.suppress(Exception):  # best effort: the container may already be gone
                self.sagemaker_client.delete_endpoint(EndpointName=name)

    def _remove_containers(self) -> None:
        """Remove the ``algo-*`` containers this run created, then the shared network if it is unused."""
        created = set(_docker("ps", "-aq", "--no-trunc").split()) - self._containers_before
        names = {cid: _docker("inspect", "-f", "{{.Name}}", cid).strip().lstrip("/") for cid in created}
        ours = [cid for cid, name in names.items() if "algo-" in name]
        if ours:
            _docker("rm", "-f", *ours)
        if not _docker("network", "inspect", "-f", "{{range .Containers}}x{{end}}", LOCAL_NETWORK).strip():
            _docker("network", "rm", LOCAL_NETWORK)

    def wait_for_endpoint(self, name: str, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            described: dict[str, Any] = self.sagemaker_client.describe_endpoint(EndpointName=name)
            if described["EndpointStatus"] in ("InService", "Failed") or time.monotonic() > deadline:
                return described
            time.sleep(0.5)
