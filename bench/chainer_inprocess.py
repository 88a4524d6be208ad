"""chainer-mnist's handler in process, the limit the servers are measured against: no HTTP, no server.

A pool of ``processes`` spawned processes, each with ``threads`` BLAS threads (the variables ``serve`` sets for
each worker), loads the model once; each runs decode + predict + encode back to back and reports its latencies
and the CPU time it used (``time.process_time``: every thread of the process). The batch pass splits the
CSV chunks of a transform over the processes, as MaxConcurrentTransforms = workers splits them over workers.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from sm_contract.server import THREAD_VARS

JSON, CSV = "application/json", "text/csv"
_state: dict[str, Any] = {}


def _load(model_dir: str, chunks: list[bytes]) -> None:
    from chainer_mnist.predictor import MnistHandler
    from sm_contract.environment import ServingEnv

    handler = MnistHandler.load(ServingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(Path(model_dir).parent)}))
    _state.update(handler=handler, chunks=chunks, arrays=[handler.decode(c, CSV) for c in chunks])


def _single(body: bytes, start_at: float, seconds: float) -> dict[str, Any]:
    handler = _state["handler"]
    while time.time() < start_at:  # warm-up until every process is ready
        handler.encode(handler.predict(handler.decode(body, JSON)), JSON)
    latencies, cpu_started, end = [], time.process_time(), start_at + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        handler.encode(handler.predict(handler.decode(body, JSON)), JSON)
        latencies.append(time.perf_counter() - t0)
    return {"latencies": latencies, "cpu_s": time.process_time() - cpu_started}


def _batch(indices: list[int], mode: str, start_at: float) -> float:
    handler = _state["handler"]
    time.sleep(max(0.0, start_at - time.time()))
    for i in indices:
        if mode == "predict":
            handler.predict(_state["arrays"][i])
        else:
            handler.encode(handler.predict(handler.decode(_state["chunks"][i], CSV)), CSV)
    return time.time()


class InProcess:
    """The pool; ``single`` and ``batch`` return runs shaped like the servers' (rps, p50_ms, cpu_ms_per_request)."""

    def __init__(self, model_dir: Path, processes: int, threads: int, chunks: list[bytes]) -> None:
        self.processes = processes
        saved = {name: os.environ.get(name) for name in THREAD_VARS}
        os.environ.update(dict.fromkeys(THREAD_VARS, str(threads)))  # inherited by the spawned processes
        try:
            context = multiprocessing.get_context("spawn")
            self.pool = context.Pool(processes, initializer=_load, initargs=(str(model_dir), chunks))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def single(self, body: bytes, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
        count = min(concurrency, self.processes)
        start_at = time.time() + warmup
        jobs = [self.pool.apply_async(_single, (body, start_at, seconds)) for _ in range(count)]
        results = [job.get() for job in jobs]
        ms = np.array([x for r in results for x in r["latencies"]]) * 1e3
        cpu_s = sum(r["cpu_s"] for r in results)
        return {
            "processes": count,
            "requests": len(ms),
            "rps": round(len(ms) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "cpu_ms_per_request": round(cpu_s * 1e3 / len(ms), 4),
        }

    def batch(self, mode: str, images: int, chunk_count: int) -> dict[str, Any]:
        start_at = time.time() + 0.5
        shares = [list(range(i, chunk_count, self.processes)) for i in range(self.processes)]
        jobs = [self.pool.apply_async(_batch, (share, mode, start_at)) for share in shares]
        seconds = max(job.get() for job in jobs) - start_at
        return {"seconds": round(seconds, 3), "images_per_s": round(images / seconds, 1)}

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
