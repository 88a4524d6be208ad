"""A tracked container: started only when a test asks, always force-removed afterwards."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container

from utils.waiting import wait_until

HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the host's: pip in a container reaches PyPI through it
CONTAINER_CA = "/etc/ssl/certs/host-ca.crt"  # where it is mounted (read-only, never baked into an image)


def pypi_access(environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``run()`` keyword arguments that let pip inside the container reach PyPI: the host's CA bundle mounted."""
    return {
        "environment": {**(environment or {}), "PIP_CERT": CONTAINER_CA},
        "volumes": {HOST_CA_BUNDLE: {"bind": CONTAINER_CA, "mode": "ro"}},
    }


class TrackedContainer:
    def __init__(self, client: docker.DockerClient, image: str) -> None:
        self.client = client
        self.image = image
        self.container: Container | None = None

    def run(self, command: str, opt_ml: Path | None = None, **kwargs: Any) -> Container:
        volumes = {str(opt_ml): {"bind": "/opt/ml", "mode": "rw"}} if opt_ml else {}
        volumes |= kwargs.pop("volumes", {})
        self.container = self.client.containers.run(self.image, command, detach=True, volumes=volumes, **kwargs)
        return self.container

    def serve(self, opt_ml: Path, environment: Mapping[str, str] | None = None, *, pypi: bool = False) -> Container:
        """``serve`` with one worker on a free loopback port; ``pypi``: pip inside can reach PyPI."""
        env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", **(environment or {})}
        access = pypi_access(env) if pypi else {"environment": env}
        return self.run("serve", opt_ml=opt_ml, ports={"8080/tcp": ("127.0.0.1", None)}, **access)

    def wait(self, timeout_s: float = 300) -> int:
        assert self.container is not None
        result = self.container.wait(timeout=timeout_s)
        return int(result["StatusCode"])

    def logs(self) -> str:
        assert self.container is not None
        return self.container.logs().decode("utf-8", errors="replace")

    def host_port(self, container_port: str = "8080/tcp") -> int:
        assert self.container is not None
        self.container.reload()
        return int(self.container.ports[container_port][0]["HostPort"])

    def wait_for_log(self, text: str, timeout_s: float = 120) -> None:
        wait_until(lambda: text in self.logs() or self._exited(), timeout_s, what=f"log line {text!r}")
        if text not in self.logs():
            raise AssertionError(f"container exited before logging {text!r}:\n{self.logs()}")

    def wait_for_ping(self, timeout_s: float = 60) -> float:
        """Seconds from now until GET /ping answers 200."""
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.host_port()}/ping"

        def ready() -> bool:
            if self._exited():
                raise AssertionError(f"server exited:\n{self.logs()}")
            try:
                return requests.get(url, timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, timeout_s, interval_s=0.05, what="/ping 200")
        return time.monotonic() - started

    def _exited(self) -> bool:
        assert self.container is not None
        self.container.reload()
        return self.container.status in ("exited", "dead")

    def remove(self) -> None:
        if self.container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.container.remove(force=True)
            self.container = None
