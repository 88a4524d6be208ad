"""The one logging set-up of the entry points (format, levels, ``--verbose``) and progress lines on the console."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Chatty libraries: WARNING unless --verbose (the SDK logs every compose file it writes, urllib3 every retry).
LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "sagemaker", "docker", "moto")


def configure(level: str | int = "INFO", *, verbose: bool = False) -> None:
    """Set up logging once, from an entry point (never from library code or tests): one handler on stderr."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    logging.captureWarnings(True)


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
