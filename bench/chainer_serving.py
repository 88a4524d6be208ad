"""chainer-mnist serving: our server against the in-process handler and the nginx + gunicorn + Flask baseline.

One trained model (the default MLP, trained by the image and cached) is served three ways with the same worker
count and the same BLAS threads per worker (``CPUs / workers``):

* in-process: the handler's decode + predict + encode with no HTTP, in a container of the same image
  (:mod:`chainer_reference`), the limit;
* ours: ``docker run IMAGE serve`` (uvicorn + Starlette);
* baseline: bench/baseline (nginx in front of gunicorn sync workers running Flask) around the same handler.

Single-image JSON requests come from wrk (keep-alive, one thread) at each --concurrency; a server's CPU time per
request is read from its container's cgroup, the in-process one from the processes themselves. A batch
transform sends the 10,000 MNIST hold-out images as CSV lines in requests of our /execution-parameters'
MaxPayloadInMB with ``Accept: text/csv``, its MaxConcurrentTransforms at a time (workers + 1); the in-process
batch pass predicts the same chunks (already decoded) in as many processes as workers; the servers' CPU time
per image comes from their cgroups, the in-process one from the work of each chunk; the load generator's (this
process's) CPU per image and the whole machine's (``/proc/stat``: servers, load generator, kernel) are recorded
beside them, since on a small machine they share the CPUs the servers would use. The contenders run
interleaved for --rounds rounds; each target is the lower median of the per-round ratios (one round's ratio),
quoted with that round's two figures. Cold starts are measured by bench/cold_start.py (one harness for both
images). The bench refuses to run when the 1-minute load is above 1.0, unless --allow-noisy (the result then
says "noisy": true).

    .venv/chainer-mnist/bin/python bench/chainer_serving.py --image byoc/chainer-mnist:bench --data data/mnist
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from chainer_reference import InProcess
from harness import containers as hc
from harness import load, machine, models, results, rounds
from harness.batch import csv_chunks, http_batch

JSON = "application/json"
TARGET_CPU_RATIO = 1.3  # server CPU per single-image request / in-process, c16
TARGET_RPS_RATIO = 1.3  # requests/s over the baseline, every concurrency
TARGET_BATCH_BASELINE, TARGET_BATCH_INPROCESS, TARGET_BATCH_CPU = 1.1, 0.85, 1.15
SINGLE_KEYS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")
BATCH_KEYS = (
    "images_per_s",
    "cpu_ms_per_image",
    "client_cpu_ms_per_image",
    "machine_cpu_ms_per_image",
    "machine_busy_cpus",
)


def server_specs(args: argparse.Namespace, model_dir: Path) -> dict[str, hc.ServerSpec]:
    workers = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers), "MODEL_SERVER_WORKERS": str(args.workers)}
    volumes = {str(model_dir): "/opt/ml/model"}
    return {
        "ours": hc.ServerSpec(args.image, volumes=volumes, environment=workers),
        "baseline": hc.ServerSpec(args.baseline_image, volumes=volumes, environment=workers),
    }


def single(args: argparse.Namespace, inproc: InProcess, servers: dict[str, hc.Server], tmp: Path) -> dict:
    lua = load.write_script(tmp, "single", [load.Request(tmp / "single.json", JSON)])
    out: dict[str, Any] = {}
    for c in args.concurrency:
        print(f">> single image, concurrency {c}", flush=True)
        contenders = {"inprocess": lambda c=c: inproc.single(tmp / "single.json", c, args.duration, args.warmup)}
        contenders |= load.server_contenders(servers, lua, c, args.warmup, args.duration)
        runs = rounds.interleave(contenders, args.rounds)
        out[f"c{c}"] = {name: rounds.summary(r, SINGLE_KEYS) | {"runs": r} for name, r in runs.items()}
        out[f"c{c}"]["ratios"] = {
            "ours_cpu_vs_inprocess": rounds.paired_ratio(runs["ours"], runs["inprocess"], "cpu_ms_per_request"),
            "baseline_cpu_vs_inprocess": rounds.paired_ratio(runs["baseline"], runs["inprocess"], "cpu_ms_per_request"),
            "ours_rps_vs_baseline": rounds.paired_ratio(runs["ours"], runs["baseline"], "rps"),
        }
    return out


def execution_parameters(server: hc.Server) -> dict[str, Any]:
    """What a transform job that leaves them unset takes from our server (MaxPayloadInMB, concurrency)."""
    return requests.get(f"{server.url}/execution-parameters", timeout=10).json()


def batch(args: argparse.Namespace, inproc: InProcess, servers: dict[str, hc.Server], tmp: Path, images, labels):
    params = execution_parameters(servers["ours"])
    payload_mb = args.batch_payload_mb or params["MaxPayloadInMB"]
    concurrency = args.batch_concurrency or params["MaxConcurrentTransforms"]
    print(
        f">> batch transform, {payload_mb} MB requests, {concurrency} at a time, {args.batch_passes} passes", flush=True
    )
    files = []
    for i, (chunk, _) in enumerate(csv_chunks(images, payload_mb * 1024 * 1024)):
        files.append(tmp / f"chunk-{i:03d}.csv")
        files[-1].write_bytes(chunk)
    bodies, n = [f.read_bytes() for f in files], len(labels)

    def over_http(server: hc.Server) -> dict[str, Any]:
        total, cpu_before, client_before, whole = 0.0, server.cpu_seconds(), time.process_time(), machine.Cpu()
        for _ in range(args.batch_passes):
            seconds, predicted = http_batch(server.url, bodies, concurrency)
            accuracy = float(np.mean(np.array(predicted) == labels))
            assert accuracy > 0.9, f"batch predictions do not match the labels ({accuracy:.3f})"
            total += seconds
        images, cpu_after = n * args.batch_passes, server.cpu_seconds()
        out = {"seconds": round(total, 3), "images_per_s": round(images / total, 1)}
        if cpu_before is not None and cpu_after is not None:
            out["cpu_ms_per_image"] = round((cpu_after - cpu_before) * 1e3 / images, 5)
        out["client_cpu_ms_per_image"] = round((time.process_time() - client_before) * 1e3 / images, 5)
        return out | whole.per_image(images)

    def in_process(mode: str) -> dict[str, Any]:
        return inproc.batch(mode, n, files, args.batch_passes)

    contenders = {
        "inprocess_predict": lambda: in_process("predict"),
        "inprocess_decode_predict_encode": lambda: in_process("decode_predict_encode"),
    } | {name: lambda s=s: over_http(s) for name, s in servers.items()}
    runs = rounds.interleave(contenders, args.rounds)
    out: dict[str, Any] = {"images": n, "requests": len(files), "payload_mb": payload_mb, "concurrency": concurrency}
    out |= {"passes": args.batch_passes}
    out |= {name: rounds.summary(r, BATCH_KEYS) | {"runs": r} for name, r in runs.items()}
    full = runs["inprocess_decode_predict_encode"]
    out["ratios"] = {
        "ours_vs_baseline": rounds.paired_ratio(runs["ours"], runs["baseline"], "images_per_s"),
        "ours_vs_inprocess": rounds.paired_ratio(runs["ours"], full, "images_per_s"),
        "baseline_vs_inprocess": rounds.paired_ratio(runs["baseline"], full, "images_per_s"),
        "ours_cpu_vs_inprocess": rounds.paired_ratio(runs["ours"], full, "cpu_ms_per_image"),
        "ours_machine_cpu_vs_inprocess": rounds.paired_ratio(runs["ours"], full, "machine_cpu_ms_per_image"),
        "inprocess_vs_predict_only": rounds.paired_ratio(full, runs["inprocess_predict"], "images_per_s"),
    }
    return out


def bench(args: argparse.Namespace, cs: hc.Containers, tmp: Path) -> dict[str, Any]:
    model_dir = args.model_dir or models.chainer_model(cs, args.image, args.data, args.epochs)
    hc.build_baseline(args.image, args.baseline_image)
    specs = server_specs(args, model_dir)
    holdout = [np.load(args.data / f"{split}/{split}.npz") for split in ("valid", "test")]
    images = np.concatenate([z["images"] for z in holdout]).reshape(-1, 784)
    labels = np.concatenate([z["labels"] for z in holdout])
    (tmp / "single.json").write_bytes(json.dumps({"instances": [images[0].tolist()]}).encode())
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    inproc = InProcess(cs, args.image, model_dir, tmp, args.workers, threads)
    servers = {name: hc.start(cs, spec) for name, spec in specs.items()}
    payload = {"single": single(args, inproc, servers, tmp), "batch": batch(args, inproc, servers, tmp, images, labels)}
    size_mb = round(cs.client.images.get(args.image).attrs["Size"] / 1e6, 1)
    settings = {"workers": args.workers, "blas_threads_per_worker": threads, "duration_s": args.duration}
    settings |= {"warmup_s": args.warmup, "rounds": args.rounds, "model_dir": results.shown(model_dir)}
    return payload | {"image_size_mb": size_mb, "settings": settings}


def targets(payload: dict[str, Any]) -> list[results.Target]:
    single, batch_ = payload["single"], payload["batch"]
    found = []
    if "c16" in single:
        cpu = single["c16"]["ratios"]["ours_cpu_vs_inprocess"]
        found.append(
            results.Target(
                "chainer-mnist server CPU per single-image request / in-process decode + predict + encode, c16",
                cpu["median"],
                "<=",
                TARGET_CPU_RATIO,
                "x",
                rounds.ratio_note(cpu, "ours", "in-process", "ms"),
            )
        )
    for key in single:
        rps = single[key]["ratios"]["ours_rps_vs_baseline"]
        found.append(
            results.Target(
                f"chainer-mnist single-image requests/s over the nginx + gunicorn + Flask baseline, {key}",
                rps["median"],
                ">=",
                TARGET_RPS_RATIO,
                "x",
                rounds.ratio_note(rps, "ours", "baseline", "req/s"),
            )
        )
    ratios = batch_["ratios"]
    for key, what, op, limit, unit in (
        ("ours_vs_baseline", "images/s over the baseline", ">=", TARGET_BATCH_BASELINE, "images/s"),
        (
            "ours_vs_inprocess",
            "images/s / in-process decode + predict + encode",
            ">=",
            TARGET_BATCH_INPROCESS,
            "images/s",
        ),
        ("ours_cpu_vs_inprocess", "server CPU per image / in-process", "<=", TARGET_BATCH_CPU, "ms/image"),
    ):
        bottom = "baseline" if key == "ours_vs_baseline" else "in-process"
        note = rounds.ratio_note(ratios[key], "ours", bottom, unit)
        found.append(
            results.Target(f"chainer-mnist batch transform {what}", ratios[key]["median"], op, limit, "x", note)
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="byoc/chainer-mnist:bench")
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--model-dir", type=Path, help="a folder with model.npz + model.json (default: train one)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the model trained without --model-dir")
    parser.add_argument("--baseline-image", default="byoc/chainer-mnist-baseline:bench", help="tag to build")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of every contender")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up before each run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--batch-passes", type=int, default=5, help="passes over the 10,000 images per measurement")
    parser.add_argument("--batch-payload-mb", type=int, help="request size (default: our /execution-parameters)")
    parser.add_argument("--batch-concurrency", type=int, help="requests in flight (default: our /execution-parameters)")
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "chainer_serving.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    load.wrk_path()
    run = results.Run("chainer_serving", args.allow_noisy)
    with hc.Containers("chainer_serving") as cs, tempfile.TemporaryDirectory(prefix="chainer_serving_") as tmp:
        payload = bench(args, cs, Path(tmp))
    images = {"ours": args.image, "baseline": args.baseline_image}
    results.write(run.record(payload, targets(payload), images), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
