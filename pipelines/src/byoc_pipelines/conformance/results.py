"""What a run found: one result per check (pass, fail or skip with its reason), collected from several threads."""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.conformance.catalog import BY_ID, CHECKS, Check


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Result:
    check: Check
    status: Status
    measured: str = ""  # the value seen (a time, a status code, a port), "" when nothing was measured
    detail: str = ""  # why it failed or was skipped, or what passing rested on
    seconds: float = 0.0  # how long the check took

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "family": self.check.family,
            "title": self.check.title,
            "status": self.status.value,
            "measured": self.measured,
            "limit": self.check.limit,
            "source": self.check.source,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Recorder:
    """Results as checks finish (any thread); checks never reported end up skipped, naming why."""

    results: dict[str, Result] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_result: Any = None  # a callable(Result) for progress lines

    def record(self, check_id: str, status: Status, measured: str = "", detail: str = "", seconds: float = 0.0) -> None:
        result = Result(BY_ID[check_id], status, measured, detail, seconds)
        with self.lock:
            if check_id in self.results:
                raise RuntimeError(f"check {check_id} reported twice")
            self.results[check_id] = result
        if self.on_result is not None:
            self.on_result(result)

    def passed(self, check_id: str, measured: str = "", detail: str = "", seconds: float = 0.0) -> None:
        self.record(check_id, Status.PASS, measured, detail, seconds)

    def failed(self, check_id: str, measured: str = "", detail: str = "", seconds: float = 0.0) -> None:
        self.record(check_id, Status.FAIL, measured, detail, seconds)

    def skipped(self, check_id: str, reason: str) -> None:
        self.record(check_id, Status.SKIP, detail=reason)

    def verdict(self, check_id: str, ok: bool, measured: str, detail: str = "", seconds: float = 0.0) -> None:
        self.record(check_id, Status.PASS if ok else Status.FAIL, measured, detail, seconds)

    def skip_rest(self, ids: tuple[str, ...] | list[str], reason: str) -> None:
        """Skip those of ``ids`` not reported yet (a prerequisite failed)."""
        for check_id in ids:
            with self.lock:
                done = check_id in self.results
            if not done:
                self.skipped(check_id, reason)

    def status(self, check_id: str) -> Status | None:
        with self.lock:
            result = self.results.get(check_id)
        return result.status if result else None

    def ordered(self) -> list[Result]:
        """Every check in catalogue order; one no code path reported is a skip saying so."""
        with self.lock:
            found = dict(self.results)
        return [
            found.get(c.id) or Result(c, Status.SKIP, detail="not run (internal: no result reported)") for c in CHECKS
        ]


@dataclass(frozen=True)
class Report:
    image: str
    image_id: str
    descriptor: str | None
    started: float
    seconds: float
    results: list[Result]
    options: dict[str, Any]

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for r in self.results if r.status is s) for s in Status}

    @property
    def ok(self) -> bool:
        return not any(r.status is Status.FAIL for r in self.results)

    def statuses(self) -> dict[str, str]:
        return {r.check.id: r.status.value for r in self.results}

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "image_id": self.image_id,
            "descriptor": self.descriptor,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.seconds, 1),
            "counts": self.counts(),
            "ok": self.ok,
            "options": self.options,
            "results": [r.as_dict() for r in self.results],
        }
