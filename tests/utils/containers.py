"""A tracked container: started only when a test asks, always force-removed afterwards."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container

from utils.waiting import wait_until


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
