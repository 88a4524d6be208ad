"""The training runner: the one place that turns outcomes into exit codes and the failure file.

``run_training`` installs the PID-1 SIGTERM handler, reads the environment, calls the image's training
function and maps the result: success -> 0; a :class:`ContractError` (user error) -> its message in
``/opt/ml/output/failure`` and exit 1; SIGTERM -> checkpoint already saved by the trainer, exit 143; anything
else -> ``Unexpected error: <type>: <message>``, traceback in the log, exit 2.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from sm_contract import log_config
from sm_contract.environment import BASE_DIR_VAR, LOG_LEVEL_VAR, TrainingEnv
from sm_contract.errors import ContractError, TrainingInterrupted
from sm_contract.paths import DEFAULT_BASE_DIR, MLPaths

logger = logging.getLogger(__name__)

FAILURE_REASON_LIMIT = 1024  # DescribeTrainingJob.FailureReason shows this many characters
EXIT_USER_ERROR = 1
EXIT_UNEXPECTED = 2


class StopBeforeTraining(BaseException):  # like KeyboardInterrupt: no `except Exception` catches it
    """SIGTERM arrived before the training loop first asked for it: there is nothing to save, the job ends now."""


class StopSignal:
    """Set by SIGTERM (StopTrainingJob, spot interruption, MaxRuntime) or SIGINT; polled by training loops.

    A Python process that is PID 1 ignores SIGTERM unless it installs a handler, so this one must be
    installed before any long work starts. Until the training loop first reads ``requested``, the job is still
    setting up (imports, data, code, requirements), which can take minutes and has nothing to save: a signal then
    ends the job at once (``StopBeforeTraining``) instead of after that work and the first batch.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self._polled = False

    def install(self) -> Callable[[], None]:
        """Handle SIGTERM and SIGINT from now on; returns a function that puts the previous handlers back."""
        previous = {signum: signal.signal(signum, self._handle) for signum in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.signum = signum
        self._event.set()
        if not self._polled:
            logger.warning("received %s before training started: stopping now", name)
            raise StopBeforeTraining(name)
        logger.warning("received %s: stopping after the current batch", name)

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        self._polled = True  # the loop runs: from now on a signal only sets the flag
        return self._event.is_set()


def write_failure(paths: MLPaths, message: str) -> str:
    """Write the failure reason, summary first, within SageMaker's 1024-character limit."""
    text = " ".join(message.split()) or "training failed"
    if len(text) > FAILURE_REASON_LIMIT:
        text = text[: FAILURE_REASON_LIMIT - 3] + "..."
    paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
    paths.failure_file.write_text(text + "\n", encoding="utf-8")
    return text


def wait_for_hosts(hosts: tuple[str, ...], timeout_s: float = 900.0) -> None:
    """Retry DNS for every host: names "may not be immediately available" when a job starts."""
    deadline = time.monotonic() + timeout_s
    for host in hosts:
        while True:
            try:
                socket.gethostbyname(host)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ContractError(f"host '{host}' did not resolve within {timeout_s:.0f} s") from None
                time.sleep(1.0)


TrainFn = Callable[[TrainingEnv, StopSignal], int | None]


def run_training(train: TrainFn, environ: Mapping[str, str] | None = None) -> int:
    """Run ``train(env, stop)`` under the SageMaker training contract and return the exit code.

    ``train`` returns ``None`` on success or an exit code of its own (a user script's, in script mode).
    """
    environ = os.environ if environ is None else environ
    log_config.configure(environ.get(LOG_LEVEL_VAR, "INFO"))
    stop = StopSignal()
    restore = stop.install()
    paths = MLPaths(Path(environ.get(BASE_DIR_VAR) or DEFAULT_BASE_DIR))
    try:
        env = TrainingEnv.from_environ(environ)
        if len(env.hosts) > 1:
            wait_for_hosts(env.hosts)
        started = time.perf_counter()
        code = train(env, stop) or 0
        logger.info(
            "training %s in %.1f s",
            "finished" if code == 0 else f"ended with exit code {code}",
            time.perf_counter() - started,
        )
        return code
    except TrainingInterrupted as exc:
        write_failure(paths, f"Training stopped by signal: {exc}")
        logger.warning("training stopped: %s", exc)
        return TrainingInterrupted.exit_code
    except StopBeforeTraining as exc:
        write_failure(paths, f"Training stopped by signal: {exc} arrived before training started")
        return TrainingInterrupted.exit_code
    except ContractError as exc:
        reason = write_failure(paths, str(exc))
        logger.error("training failed: %s", reason)
        return EXIT_USER_ERROR
    except Exception as exc:  # the one broad handler: anything else is a bug or an environment fault
        logger.exception("unexpected error")
        write_failure(paths, f"Unexpected error: {type(exc).__name__}: {exc}")
        return EXIT_UNEXPECTED
    finally:
        restore()


def output_file(paths: MLPaths, name: str) -> Path:
    """A file in /opt/ml/output/data (packed into output.tar.gz), with its folder created."""
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    return paths.output_data_dir / name
