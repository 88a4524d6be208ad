"""chainer-mnist's handler in process, the limit the servers are measured against: no HTTP, no server.

Runs inside the image (``docker exec``, see :mod:`chainer_reference`), so it uses the servers' own Python,
NumPy and BLAS. A pool of --processes processes, each with the BLAS threads of the environment (the bench sets
the variables ``serve`` sets for each worker), loads the model; ``single`` runs decode + predict + encode of one
JSON image back to back in ``min(concurrency, processes)`` of them and reports latencies and the CPU time the
processes used (``time.process_time``: all their threads); ``batch`` splits the CSV chunks of a transform over
the processes, each chunk to the next free one (as a transform's requests go to the next free worker), and
reports the CPU time of the chunks' work and the whole machine's over the passes (``/proc/stat``, which a
container reads unchanged). Prints one JSON line.

    python chainer_inprocess.py --model-dir /opt/ml/model --processes 2 single --body b.json --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import machine  # the bench folder is mounted whole, so its harness imports here too

JSON, CSV = "application/json", "text/csv"
_state: dict[str, Any] = {}


def _load(model_dir: str, chunk_files: list[str], ready: Any) -> None:
    from chainer_mnist.serving.handler import MnistHandler
    from sm_contract.environment import ServingEnv

    handler = MnistHandler.load(ServingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(Path(model_dir).parent)}))
    chunks = [Path(f).read_bytes() for f in chunk_files]
    _state.update(handler=handler, chunks=chunks, arrays=[handler.decode(c, CSV, {}) for c in chunks])
    ready.wait()


def _single(body: bytes, start_at: float, seconds: float) -> dict[str, Any]:
    handler = _state["handler"]
    while time.time() < start_at:  # warm-up until every process is ready
        handler.encode(handler.predict(handler.decode(body, JSON, {})), JSON)
    latencies, cpu_started, end = [], time.process_time(), start_at + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        handler.encode(handler.predict(handler.decode(body, JSON, {})), JSON)
        latencies.append(time.perf_counter() - t0)
    return {"latencies": latencies, "cpu_s": time.process_time() - cpu_started}


def _chunk(index: int, mode: str) -> float:
    """One chunk; the CPU time it took in this process (all its threads)."""
    handler, started = _state["handler"], time.process_time()
    if mode == "predict":
        handler.predict(_state["arrays"][index])
    else:
        handler.encode(handler.predict(handler.decode(_state["chunks"][index], CSV, {})), CSV)
    return time.process_time() - started


def single(pool: Any, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    count = min(args.concurrency, processes)
    start_at = time.time() + args.warmup
    body = Path(args.body).read_bytes()
    jobs = [pool.apply_async(_single, (body, start_at, args.seconds)) for _ in range(count)]
    results = [job.get() for job in jobs]
    ms = np.array([x for r in results for x in r["latencies"]]) * 1e3
    return {
        "processes": count,
        "requests": len(ms),
        "rps": round(len(ms) / args.seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "cpu_ms_per_request": round(sum(r["cpu_s"] for r in results) * 1e3 / len(ms), 4),
    }


def batch(pool: Any, args: argparse.Namespace, chunk_count: int) -> dict[str, Any]:
    """``--passes`` passes over all chunks, each chunk a task that the next free process takes (as a transform's
    MaxConcurrentTransforms requests go to the next free worker)."""
    started, cpu_s, whole = time.perf_counter(), 0.0, machine.Cpu()
    for _ in range(args.passes):
        jobs = [pool.apply_async(_chunk, (i, args.mode)) for i in range(chunk_count)]
        cpu_s += sum(job.get() for job in jobs)
    seconds, images = time.perf_counter() - started, args.images * args.passes
    return {
        "seconds": round(seconds, 3),
        "images_per_s": round(images / seconds, 1),
        "cpu_ms_per_image": round(cpu_s * 1e3 / images, 5),
    } | whole.per_image(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="/opt/ml/model")
    parser.add_argument("--processes", type=int, default=2)
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("single")
    one.add_argument("--body", required=True)
    one.add_argument("--concurrency", type=int, default=1)
    one.add_argument("--seconds", type=float, default=10)
    one.add_argument("--warmup", type=float, default=2)
    many = sub.add_parser("batch")
    many.add_argument("--chunks", nargs="+", required=True)
    many.add_argument("--mode", choices=["predict", "decode_predict_encode"], default="predict")
    many.add_argument("--images", type=int, required=True)
    many.add_argument("--passes", type=int, default=1)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(args.processes + 1)
    chunk_files = args.chunks if args.what == "batch" else []
    with context.Pool(args.processes, initializer=_load, initargs=(args.model_dir, chunk_files, ready)) as pool:
        ready.wait()  # every process has loaded the model (and decoded the chunks)
        out = single(pool, args.processes, args) if args.what == "single" else batch(pool, args, len(chunk_files))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
