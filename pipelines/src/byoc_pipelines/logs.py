"""The one logging and console set-up of the entry points: format and levels, ``--verbose``, progress lines, and
container, SDK and library output sent to log files under ``build/``.

The SageMaker SDK's local mode writes every container line with ``sys.stdout.write`` (from threads, for an
endpoint) and leaves some child processes on the inherited descriptors, so a logging level cannot quiet it:
:meth:`RunLogs.to` points file descriptors 1 and 2 at a log file instead, which catches Python, threads and
child processes alike, while progress goes to a duplicate of the console taken before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PACKAGE = "byoc_pipelines"
# Chatty libraries: WARNING unless --verbose (the SDK logs every compose file it writes, urllib3 every retry).
LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "sagemaker", "docker", "moto")


class _OwnRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == PACKAGE or record.name.startswith(PACKAGE + ".")


def configure(level: str | int = "INFO", *, verbose: bool = False, console: TextIO | None = None) -> None:
    """Set up logging once, from an entry point (never from library code or tests).

    Records go to standard error, that is to whatever descriptor 2 is when they are emitted: the terminal, or a
    run's log file while :meth:`RunLogs.to` redirects it. ``console`` (a stream that stays on the terminal) also
    gets this package's warnings and errors, so a problem is seen even while the rest goes to a file.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    if console is not None:
        own = logging.StreamHandler(console)
        own.setLevel(logging.WARNING)
        own.addFilter(_OwnRecords())
        own.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(own)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    logging.captureWarnings(True)


@contextlib.contextmanager
def quiet(name: str, level: int = logging.CRITICAL) -> Iterator[None]:
    """Logger ``name`` only from ``level`` on while the block runs (moto logs every error a state raises, with
    the whole state, even where errors are what is being exercised)."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def console(out: TextIO | None) -> Iterator[TextIO]:
    """A stream on the terminal that survives :meth:`RunLogs.to`: ``out`` itself, or a duplicate of stdout."""
    if out is not None:
        yield out
        return
    sys.stdout.flush()
    with os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1) as duplicate:
        yield duplicate


@contextlib.contextmanager
def descriptors_to(path: Path) -> Iterator[None]:
    """Descriptors 1 and 2 of this process (and so of its threads and children) append to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for descriptor, original in zip((1, 2), saved, strict=True):
            os.dup2(original, descriptor)
            os.close(original)


@dataclass
class RunLogs:
    """The log files of a long run (``demo``, ``local``) in ``folder``; with ``verbose`` nothing is redirected."""

    folder: Path
    verbose: bool = False
    files: list[Path] = field(default_factory=list)

    @contextlib.contextmanager
    def to(self, name: str) -> Iterator[None]:
        """Output of the block, containers' included, to ``<folder>/<name>.log`` (to the console when verbose)."""
        if self.verbose:
            yield
            return
        path = self.folder / f"{name}.log"
        if path not in self.files:
            self.files.append(path)
        with descriptors_to(path):
            yield


@dataclass
class Progress:
    """Progress on the console: ``>> [  12.3 s] stage: message`` timed from the start, and indented details."""

    out: TextIO
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def step(self, stage: str, message: str) -> None:
        self.out.write(f">> [{self.elapsed_s:6.1f} s] {stage}: {message}\n")
        self.out.flush()

    def detail(self, text: str) -> None:
        self.out.write(f"   {text}\n")
        self.out.flush()


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it is under it (shorter on the console), else absolute."""
    resolved, here = path.resolve(), Path.cwd().resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(resolved)
