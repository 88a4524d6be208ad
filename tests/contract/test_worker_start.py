"""``serve`` with several workers: they start one after another, and a worker that holds the GIL for seconds
while it loads its model is not killed.

uvicorn's supervisor checks each worker through a pipe that a thread of the worker answers; loading a framework
(TensorFlow's library loads under the GIL) silences that thread for seconds, longer on a busy machine.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import requests

from utils.data import free_port
from utils.entrypoints import start_serve

HOLD_S = 8  # longer than uvicorn's own health-check timeout (5 s)

# An app factory whose model load holds the GIL (a C call through ctypes.PyDLL keeps it) and notes each load's
# start and end.
SLOW_APP = f"""
import ctypes, os, time
from sm_contract import server

FORKED = False  # the supervisor sets it: True in a worker forked from it, False in a spawned one (imported anew)

def note(what):
    with open(os.environ["LOADS_FILE"], "a") as loads:
        loads.write(f"{{what}} {{os.getpid()}} {{FORKED}}\\n")

def load(env):
    note("start")
    if os.environ.get("HOLD_GIL"):
        ctypes.PyDLL(None).sleep({HOLD_S})
    else:
        time.sleep({HOLD_S})
    note("done")
    return object()

def app():
    return server.app_from_environ(load)
"""
SERVE = (
    "import sys, slow_app; from sm_contract import server; slow_app.FORKED = True; "
    "sys.exit(server.serve('slow_app:app'))"
)


def _serve(tmp_path: Path, **environ: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """``serve`` of the slow app with 2 workers: the process, the file of load notes, the port."""
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    loads, port = tmp_path / "loads.txt", free_port()
    return start_serve(tmp_path, SERVE, port, LOADS_FILE=str(loads), **environ), loads, port


def test_a_worker_that_holds_the_gil_while_loading_is_not_replaced(tmp_path: Path) -> None:
    server, loads, port = _serve(tmp_path, HOLD_GIL="1")
    log = tmp_path / "serve.log"
    try:
        deadline = time.monotonic() + HOLD_S + 60
        while _notes(loads).count("done") < 2 or not _ping(port):  # both workers loaded, the server answers
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    text = log.read_text()
    # One load per worker (none was killed and replaced), the second worker's after the first one's.
    assert _notes(loads) == ["start", "done", "start", "done"], text
    assert {line.split()[2] for line in loads.read_text().splitlines()} == {"True"}  # forked from the supervisor
    assert "died" not in text and server.returncode == 0, text


def test_sigterm_while_the_first_worker_loads_stops_serve_before_the_next_one_starts(tmp_path: Path) -> None:
    server, loads, _ = _serve(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "start" not in _notes(loads):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        server.wait(HOLD_S + 20)  # the loading worker finishes its load, then stops
    finally:
        if server.poll() is None:
            server.kill()
    text = (tmp_path / "serve.log").read_text()
    assert _notes(loads).count("start") == 1, text  # the second worker never started
    assert "Received SIGTERM" in text, text


def _notes(loads: Path) -> list[str]:
    return [line.split()[0] for line in loads.read_text().splitlines()] if loads.is_file() else []


def _ping(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_the_supervisor_waits_at_least_as_long_as_a_request_may_take(tmp_path: Path) -> None:
    """A worker deep in a long request (a batch of MaxPayloadInMB) is as silent as one loading its model."""
    from sm_contract.environment import ServingEnv
    from sm_contract.server import WORKER_HEALTHCHECK_S, uvicorn_config

    def patience(**environ: str) -> float:
        env = ServingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path), **environ})
        return float(uvicorn_config("app:app", env).timeout_worker_healthcheck)

    assert patience(SAGEMAKER_MODEL_SERVER_TIMEOUT="1") == WORKER_HEALTHCHECK_S
    assert patience(SAGEMAKER_MODEL_SERVER_TIMEOUT="300") == 300
    assert patience(SAGEMAKER_BATCH="true") >= 600  # a transform's request may take its 600 s
