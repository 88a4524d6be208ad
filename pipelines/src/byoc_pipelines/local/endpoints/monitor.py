"""Health checks of every running instance: ``GET /ping`` every few seconds, as SageMaker keeps pinging.

Each check is a ``FailedPings`` datapoint (1 failed, 0 passed) of the instance's variant; two failures in a
row take an instance out of routing until it passes again (our reading: AWS documents the 2 s answer time of a
ping, not how many failures it tolerates).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from byoc_pipelines.local.endpoints.endpoint import Endpoint

CHECKED = ("InService", "Unhealthy")


class HealthMonitor:
    """One thread pinging the instances of every endpoint, started with the first endpoint."""

    def __init__(self, endpoints: Callable[[], list[Endpoint]], interval_s: float) -> None:
        self.endpoints, self.interval_s = endpoints, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="endpoint-health", daemon=True)
                self._thread.start()

    def check(self) -> None:
        """One round of pings."""
        for endpoint in self.endpoints():
            for instance in endpoint.instances():
                if instance.state not in CHECKED:
                    continue
                healthy = instance.ping()
                endpoint.metrics.put(instance.variant, "FailedPings", 0 if healthy else 1)
                instance.set_health(healthy)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
