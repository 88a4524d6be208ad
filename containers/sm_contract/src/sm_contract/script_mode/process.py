"""The user's script as a child process: its own process group, SIGTERM passed on, its exit code and last error kept.

Better than the toolkit, which starts the script through a shell and never forwards SIGTERM: here a stop
request (``StopTrainingJob``, spot interruption, MaxRuntime) reaches every process the script started, the job
ends as soon as the script does, and a script that ignores SIGTERM is killed after a grace period.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from sm_contract.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_STOP_GRACE_S = 100.0  # SageMaker sends SIGKILL 120 s after SIGTERM
TAIL_LINES = 200
_MPI_TAG = re.compile(r"^\[\d+,\d+\]<std(?:err|out)>:\s?")  # mpirun --tag-output
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Warning)\b(?::.*)?$")


class Stoppable(Protocol):
    @property
    def requested(self) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    exit_code: int  # the script's own code; 128 + N when signal N ended it
    error_line: str | None  # its last error line (e.g. "ValueError: bad shape"), if it printed one
    stopped: bool  # a stop request was passed on to it


def entry_point_command(code_dir: Path, program: str, args: Sequence[str]) -> list[str]:
    """``python script.py args``, ``python -m package args`` (a package with setup.py) or ``./command args``."""
    root = code_dir.resolve()
    target = (code_dir / program).resolve()
    if os.path.commonpath([root, target]) != str(root):
        raise ConfigurationError(f"sagemaker_program {program!r} points outside the code folder {code_dir}")
    if program.endswith(".py"):
        if not target.is_file():
            present = ", ".join(sorted(p.name for p in code_dir.iterdir())[:10]) if code_dir.is_dir() else "nothing"
            raise ConfigurationError(f"sagemaker_program {program!r} not found in {code_dir} (it holds: {present})")
        return [sys.executable, program, *args]
    if (code_dir / "setup.py").is_file() or (code_dir / "pyproject.toml").is_file():
        return [sys.executable, "-m", program, *args]
    if not target.is_file():
        raise ConfigurationError(f"sagemaker_program {program!r} not found in {code_dir}")
    target.chmod(target.stat().st_mode | 0o111)
    return ["/bin/sh", "-c", shlex.join([f"./{program}", *args])]


def last_error_line(lines: Sequence[str]) -> str | None:
    """The script's own error: its last exception line, else its last non-empty line of stderr."""
    cleaned = [_MPI_TAG.sub("", line).rstrip() for line in lines]
    cleaned = [line for line in cleaned if any(c.isalnum() for c in line)]  # not blank, not a ---- rule
    for line in reversed(cleaned):
        if _EXCEPTION.match(line):
            return line
    return cleaned[-1].strip() if cleaned else None


class _Tail:
    """Copies the script's stdout and stderr to ours as they come and keeps their last lines.

    Both count: mpirun hands the ranks' stderr on as tagged stdout lines, and a traceback that a program logs
    goes wherever its logging goes.
    """

    def __init__(self, pipes: dict[IO[bytes], IO[str]]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._copy, args=item, daemon=True) for item in pipes.items()]
        for thread in self._threads:
            thread.start()

    def _copy(self, pipe: IO[bytes], out: IO[str]) -> None:
        binary = getattr(out, "buffer", None)
        for raw in iter(pipe.readline, b""):
            if binary is not None:
                binary.write(raw)
                binary.flush()
            else:
                out.write(raw.decode("utf-8", errors="replace"))
            with self._lock:
                self.lines.append(raw.decode("utf-8", errors="replace")[:1000])
        pipe.close()

    def join(self, timeout_s: float) -> None:
        for thread in self._threads:
            thread.join(timeout_s)


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stop: Stoppable,
    grace_s: float = DEFAULT_STOP_GRACE_S,
    poll_s: float = 0.05,
) -> Outcome:
    """Run ``command`` to its end; a stop request sends SIGTERM to its process group, SIGKILL after ``grace_s``."""
    logger.info("running %s", shlex.join(command))
    child = subprocess.Popen(
        list(command), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert child.stdout is not None and child.stderr is not None
    tail = _Tail({child.stdout: sys.stdout, child.stderr: sys.stderr})
    signalled_at: float | None = None
    while child.poll() is None:
        if stop.requested and signalled_at is None:
            logger.warning("passing SIGTERM on to the script (process group %d)", child.pid)
            _signal_group(child.pid, signal.SIGTERM)
            signalled_at = time.monotonic()
        elif signalled_at is not None and time.monotonic() - signalled_at > grace_s:
            logger.warning("the script ignored SIGTERM for %.0f s: killing it", grace_s)
            _signal_group(child.pid, signal.SIGKILL)
            signalled_at = float("inf")
        time.sleep(poll_s)
    _signal_group(child.pid, signal.SIGKILL)  # whatever the script left running in its group
    tail.join(5.0)
    code = child.returncode
    return Outcome(128 - code if code < 0 else code, last_error_line(list(tail.lines)), signalled_at is not None)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
