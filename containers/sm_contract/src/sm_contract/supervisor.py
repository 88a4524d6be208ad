"""uvicorn's multi-worker supervisor, its workers forked and started one after another.

Workers that import their framework and load their model at the same time share the container's CPUs, so the first
one is ready only when they all are: on a busy 2-CPU machine keras-text's and chainer-mnist's first ``/ping`` 200
came 2-2.5x later with two workers starting together than with one (paired ``docker run`` to the first 200). Here
each worker starts once the one before it is ready: the first answers sooner, the others follow without slowing it.
``/ping`` keeps its meaning, since a worker only accepts connections once its model is loaded. SIGTERM is handled
while the supervisor waits, and a worker that fails to start stops the container as before (uvicorn's own checks, in
its main loop).

uvicorn spawns its workers: each starts a new interpreter and imports uvicorn and the image's ``image.py`` again.
Forked, a worker starts with them imported. The supervisor imports no framework, and forks only while it runs no
other thread (a thread could hold a lock the copy would never see released): a worker inherits nothing it must not
share. Otherwise, and for a worker uvicorn itself replaces later, the worker is spawned as usual.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from socket import socket
from typing import Any

from uvicorn._subprocess import subprocess_started
from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess, Process

# Between readiness checks of a starting worker (as uvicorn's own wait_until_ready): each check makes its health
# thread take the GIL from the loading one, and the next worker starts at most this late.
POLL_S = 0.1
_FORK = multiprocessing.get_context("fork")


class ForkedProcess(Process):
    """uvicorn's worker process, forked from the supervisor instead of spawned."""

    def __init__(self, config: Config, sockets: list[socket]) -> None:
        super().__init__(config, sockets)  # uvicorn's health-check pipe; its spawn process is replaced (not started)
        self.process = _FORK.Process(target=_forked, args=(config, self.target, sockets))  # type: ignore[assignment]


def _forked(config: Config, target: Any, sockets: list[socket]) -> None:
    # The supervisor's signal handlers only queue signals for its own loop: a worker gets the defaults (SIGTERM
    # ends it) until its server installs its own, as a spawned one.
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    subprocess_started(config, target, sockets, stdin_fileno=None)


class Supervisor(Multiprocess):
    """``Multiprocess`` whose workers are forked and start in turn, each when the previous one is ready."""

    def init_processes(self) -> None:
        """Start the workers not running yet, each after the one before it is ready; stops waiting when a worker
        exits, stays silent or SIGTERM arrives (the main loop then replaces the worker, or stops)."""
        while len(self.processes) < self.processes_num and not self.should_exit.is_set():
            if self.processes and not self._wait_ready(self.processes[-1]):
                return
            process = (ForkedProcess if threading.active_count() == 1 else Process)(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        if not self.should_exit.is_set() and len(self.processes) < self.processes_num:
            self.init_processes()  # a start was cut short (a worker replaced after it died): start the rest

    def _wait_ready(self, process: Process) -> bool:
        timeout = self.config.timeout_worker_healthcheck
        while process.process.is_alive():
            self.handle_signals()
            if self.should_exit.is_set():
                return False
            # True once started, False while starting, None when silent longer than uvicorn's health check (its
            # private method: is_ready() cannot tell silence from starting).
            started = process._healthcheck(timeout)
            if started is None:
                return False  # the main loop's health check kills and replaces it
            if started:
                return True
            self.should_exit.wait(POLL_S)
        return False
