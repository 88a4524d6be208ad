"""py-spy samples of one server worker under load, summed per function and sorted into cost buckets.

The worker is sampled from the host (its host PID from ``docker top``), with ``--native`` where py-spy can
unwind native stacks in the container (so that a worker waiting in ``epoll_wait`` or on a lock counts as idle),
else Python frames only: py-spy's own idle detection does not work on these containers, so stacks that end in a
Python wait (a lock, a queue, a pipe) count as idle and those that end in uvloop's C loop (``Runner.run``:
waiting in ``epoll_wait`` or doing socket I/O, which cannot be told apart then) are counted apart and left out
of the busy samples. Native code under a Python frame (BLAS, the JSON and HTTP parsers) counts as that frame's.
Each stack lands in the
first bucket whose rule matches. Shares are of the busy thread-samples: every thread of the worker is sampled, and
a thread blocked in a system call under a Python frame (a socket send, a write to the log pipe) counts as busy,
so they show where the worker's threads spend their time, not CPU time; the ablations measure CPU.
"""

from __future__ import annotations

import collections
import re
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import load
from harness.containers import Server

IDLE = re.compile(
    r"epoll_wait|epoll_pwait|\bpoll\b|select|futex|pthread_cond|sem_wait|__recv|\brecv\b|read_nocancel|nanosleep|accept"
)
# Python frames that only wait (when py-spy sees no native frame below them)
# (``_worker`` of concurrent.futures is a leaf only while it waits in C for the next job: the idle model thread)
IDLE_PY = ("Connection._recv", "Condition.wait", "Queue.get", "Event.wait (threading", "_worker (concurrent/futures")
Rule = tuple[str, Callable[[str], bool]]
# sm_contract's decode + predict + encode: one request's (on the event loop or the model thread), or a batch's
WORK = ("Work.__call__ (sm_contract/batching.py", "Batch.run (sm_contract/batching.py")


def _working(stack: str) -> bool:
    return any(w in stack for w in WORK)


def _in_work(*names: str) -> Callable[[str], bool]:
    return lambda s: _working(s) and any(n in s for n in names)


CHAINER_HANDLER: list[Rule] = [
    ("handler: decode (JSON parse, array)", _in_work("MnistHandler.decode")),
    ("handler: predict (Chainer MLP)", _in_work("MnistHandler.predict")),
    ("handler: encode (JSON)", _in_work("MnistHandler.encode")),
]
KERAS_HANDLER: list[Rule] = [
    ("handler: TensorFlow model call", _in_work("tensorflow/")),
    ("handler: input_handler (parse, tokenize)", _in_work("input_handler")),
    ("handler: output_handler (rank, JSON)", _in_work("output_handler")),
    ("handler: TF Serving REST body in process (JSON)", _in_work("tfs/rest.py", "call_rest")),
    ("handler: decode (size checks)", _in_work("TfsHandler.decode", "TextHandler.decode")),
]
SERVER: list[Rule] = [
    ("handler: rest, response object (worker thread)", _working),
    ("per-request log line", lambda s: "logging/__init__.py" in s),
    ("thread hop (model thread, GIL hand-over)", lambda s: "Gate._job" in s or "thread.py" in s),
    ("app: invocations, Gate, Starlette", lambda s: any(k in s for k in ("starlette/", "sm_contract/", "anyio/"))),
    ("HTTP: uvicorn + httptools", lambda s: "uvicorn/protocols" in s or "httptools" in s),
    ("event loop (asyncio, uvloop callbacks)", lambda s: "Runner.run" in s or "uvloop" in s or "asyncio/" in s),
]


def worker_pid(server: Server) -> str:
    top = server.container.top(ps_args="-o pid,ppid,args")
    rows = [dict(zip(top["Titles"], p, strict=False)) for p in top["Processes"]]
    parent = min(rows, key=lambda r: int(r["PID"]))["PID"]
    return next(r["PID"] for r in rows if r["PPID"] == parent and "resource_tracker" not in r["COMMAND"])


def record(
    binary: str, server: Server, lua: Path, seconds: float, out: Path, handler: list[Rule], concurrency: int = 16
) -> dict[str, Any]:
    """Samples one worker while wrk loads the server; the summary (see :func:`summarize`)."""
    worker = worker_pid(server)
    measured: dict[str, Any] = {}

    def loader() -> None:
        measured.update(load.run(f"{server.url}/invocations", lua, concurrency, seconds + 4))

    cpu_before = server.cpu_seconds()
    thread = threading.Thread(target=loader)
    thread.start()
    cmd = [binary, "record", "--pid", worker, "--duration", str(int(seconds)), "--rate", "200"]
    cmd += ["--format", "raw", "--output", str(out)]
    done = subprocess.run([*cmd, "--native"], capture_output=True, text=True)
    native = done.returncode == 0
    if not native:  # native unwinding fails in some containers (UNW_EBADREG): Python frames only
        done = subprocess.run(cmd, capture_output=True, text=True)
    thread.join()
    if done.returncode != 0:
        raise RuntimeError(f"py-spy failed: {done.stderr[-2000:]}")
    summary = summarize(out.read_text(), handler + SERVER) | {"native": native}
    cpu_after = server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None and measured.get("requests"):
        # py-spy pauses the worker for each sample, so this is a little above the unsampled figure
        summary["cpu_ms_per_request_while_sampled"] = round((cpu_after - cpu_before) * 1e3 / measured["requests"], 4)
    return summary


def _idle(frames: list[str]) -> bool:
    leaf = frames[-1]
    return bool(IDLE.search(leaf)) or any(leaf.startswith(p) for p in IDLE_PY)


def summarize(raw: str, rules: list[Rule], top_n: int = 20) -> dict[str, Any]:
    buckets: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = idle = loop_c = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if f]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        if _idle(frames):
            idle += n
            continue
        if frames[-1].startswith("Runner.run"):  # Python frames only: uvloop's C loop, idle or not
            loop_c += n
            continue
        joined = ";".join(frames)
        buckets[next((name for name, rule in rules if rule(joined)), "other")] += n
        leaves[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    busy = max(1, total - idle - loop_c)
    return {
        "samples": total,
        "idle_share": round(idle / max(1, total), 4),
        "uvloop_c_or_idle_share": round(loop_c / max(1, total), 4),
        "buckets_of_busy": {name: round(n / busy, 4) for name, n in buckets.most_common()},
        "inclusive_of_busy": [[frame, round(n / busy, 4)] for frame, n in inclusive.most_common(top_n)],
        "self_of_busy": [[frame, round(n / busy, 4)] for frame, n in leaves.most_common(top_n)],
    }
