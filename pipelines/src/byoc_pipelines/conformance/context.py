"""What every check function gets: the run's sandbox, inputs, recorder and options."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from byoc_pipelines.conformance.inputs import Inputs
from byoc_pipelines.conformance.results import Recorder
from byoc_pipelines.conformance.sandbox import Box, Sandbox

logger = logging.getLogger(__name__)

# AWS's numbers (see catalog.py for the sources)
TRAIN_STOP_S = 120.0  # StopTrainingJob: SIGKILL 120 s after SIGTERM
SERVE_STOP_S = 30.0  # endpoints: SIGKILL 30 s after SIGTERM
PING_READY_S = 240.0  # default ContainerStartupHealthCheckTimeoutInSeconds
PING_S = 2.0  # each /ping
ACCEPT_S = 0.25  # the socket accepted
INVOKE_S = 60.0  # InvokeEndpoint
BATCH_INVOKE_S = 600.0  # ModelClientConfig.InvocationsTimeoutInSeconds default
MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's Body
SERVERLESS_READY_S = 180.0
SERVERLESS_BODY = 4 * 1024 * 1024
SERVERLESS_MEMORY_MB = (1024, 6144)
FAILURE_REASON_CHARS = 1024  # DescribeTrainingJob.FailureReason


@dataclass(frozen=True)
class Options:
    stop_wait_s: float = TRAIN_STOP_S  # patience after SIGTERM (capped by the AWS limit of each check)
    train_timeout_s: float = 900.0  # a training job of the suite
    serverless_memory_mb: int | None = None  # opt-in: run the serverless profile under this cap
    families: frozenset[str] = frozenset({"training", "serving", "batch", "multi-model"})
    model: Path | None = None  # serve this model instead of the training job's

    def as_dict(self) -> dict[str, object]:
        return {
            "stop_wait_s": self.stop_wait_s,
            "train_timeout_s": self.train_timeout_s,
            "serverless_memory_mb": self.serverless_memory_mb,
            "families": sorted(self.families),
            "model": str(self.model) if self.model else None,
        }


class Startups:
    """Servers start one at a time: start-up is CPU work (importing a framework, loading a model), and side by side
    on a small machine they push each other past the start-up limit they are measured against. ``wait_all`` is for
    work that would slow them down too (two training hosts): it waits until every server of the run is up or never
    will be. Each serving task calls ``begin`` and ``done`` (once, whatever happens) around its work."""

    def __init__(self, servers: int = 0) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition()
        self.left = servers
        self.task = threading.local()  # pool threads are reused: the flag is per task, reset by begin()

    def begin(self) -> None:
        self.task.done = False

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        with self.lock:
            yield
        self.done()

    def done(self) -> None:
        if getattr(self.task, "done", True):
            return
        self.task.done = True
        with self.changed:
            self.left -= 1
            self.changed.notify_all()

    def wait_all(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.left <= 0)


@dataclass
class Context:
    sandbox: Sandbox
    inputs: Inputs
    rec: Recorder
    options: Options
    labels: dict[str, str] = field(default_factory=dict)
    startups: Startups = field(default_factory=Startups)
    note: Callable[[str], None] = logger.info  # progress lines

    @property
    def folder(self) -> Path:
        return self.sandbox.folder

    def label(self, name: str) -> bool:
        return self.labels.get(name, "").strip().lower() == "true"


def stop_within(ctx: Context, check: str, box: Box, limit_s: float) -> None:
    """SIGTERM to a running container: pass when it exits within ``limit_s`` (SageMaker's SIGKILL follows)."""
    patience = min(limit_s, ctx.options.stop_wait_s)
    seconds, code = box.stop_seconds(patience)
    if seconds is None:
        why = f"SageMaker sends SIGKILL {limit_s:.0f} s after SIGTERM"
        ctx.rec.failed(check, f"still running {patience:.0f} s after SIGTERM", why)
    else:
        ctx.rec.passed(check, f"exit {code} {seconds:.2f} s after SIGTERM", seconds=seconds)
