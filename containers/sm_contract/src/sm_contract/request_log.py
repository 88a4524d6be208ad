"""The per-request log, kept cheap: one summary line per interval at INFO, each request's line at DEBUG.

Writing and formatting a line per request cost about a tenth of a small request's CPU time. At INFO, the server
logs one line per ``interval_s`` with the requests of that interval by status and their latency, plus the first
few errors of each interval as lines of their own; at DEBUG every request gets its line.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

logger = logging.getLogger("sm_contract.serving")

INTERVAL_S = 10.0
ERRORS_PER_INTERVAL = 5  # non-2xx requests logged one by one at INFO in each interval


class RequestLog:
    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.statuses: Counter[int] = Counter()
        self.total_s = self.max_s = 0.0
        self.errors_logged = 0
        self.since = self.next_at = time.monotonic()  # the first request is summarised at once

    def record(self, status: int, content_type: str | None, seconds: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("invocations status=%d content_type=%s ms=%.2f", status, content_type or "-", seconds * 1e3)
        elif status >= 300 and self.errors_logged < ERRORS_PER_INTERVAL:
            self.errors_logged += 1
            logger.info("invocations status=%d content_type=%s ms=%.2f", status, content_type or "-", seconds * 1e3)
        self.statuses[status] += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        if time.monotonic() >= self.next_at:
            self.flush()

    def flush(self) -> None:
        """The summary line of the requests since the last one (none when there were none)."""
        count = sum(self.statuses.values())
        if count:
            by_status = " ".join(f"{status}x{n}" for status, n in sorted(self.statuses.items()))
            logger.info(
                "invocations: %d in %.0f s (status %s), mean %.2f ms, max %.2f ms",
                count,
                time.monotonic() - self.since,
                by_status,
                self.total_s / count * 1e3,
                self.max_s * 1e3,
            )
        self.statuses.clear()
        self.total_s = self.max_s = 0.0
        self.errors_logged = 0
        self.since = time.monotonic()
        self.next_at = self.since + self.interval_s
