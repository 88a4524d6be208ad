"""Serving latency, throughput, batch transform rate, image size and cold start of the chainer-mnist image.

One trained model (the default MLP trained in the image for --epochs, or --model-dir) is served three ways:

* in-process: ``MnistHandler.load`` on the host, decode + predict + encode with no HTTP, the limit. Concurrency N
  runs min(N, --workers) processes calling back to back: the servers' throughput ceiling, latency without queueing.
* ours: ``docker run IMAGE serve`` (uvicorn + Starlette) with --workers processes.
* baseline: bench/baseline/Dockerfile, built FROM the image: the layout of AWS's BYO scikit sample (nginx in front
  of gunicorn sync workers running a Flask app) around the same handler code, same worker count.

Single-image requests (``{"instances": [[784 uint8 values]]}``) come from ``wrk --latency`` on 127.0.0.1 (one wrk
thread, a --warmup run, then a --duration run) at concurrency 1 and 16; the containers' CPU time per request is
read from their cgroup where available. The batch test sends the 10,000 MNIST test images (valid.npz + test.npz)
as CSV lines packed into <= 6 MiB requests with ``Accept: text/csv``, MaxConcurrentTransforms = workers at a
time, as a batch transform with BatchStrategy=MultiRecord does; it is compared with in-process batched predict of
the same chunks. The host may be shared, and load from elsewhere only ever slows a run down: the contenders run
interleaved, --rounds times (batch: --rounds + 1), and the best run counts. Cold start is the time from ``docker
run ... serve`` to the first /ping 200, median of --cold-starts. Every container started here is removed, also on
errors.

    .venv/chainer-mnist/bin/python bench/chainer_serving.py --image byoc/chainer-mnist:latest --data data/mnist
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import numpy as np
import requests

from chainer_mnist.predictor import MnistHandler

HERE = Path(__file__).resolve().parent
MAX_PAYLOAD = 6 * 1024 * 1024  # MaxPayloadInMB=6
JSON, CSV = "application/json", "text/csv"
# name: (target, higher is better)
TARGETS = {"p50_overhead_ms": (1.0, False), "rps_vs_baseline_c16": (3.0, True), "batch_vs_inprocess": (0.5, True)}
TARGETS |= {"image_mb": (400, False), "cold_start_s": (1.0, False)}
WRK_SCRIPT = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{ct}"\nwrk.body = io.open({path}, "rb"):read("*a")\n'
UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


class Containers:
    """Starts containers and force-removes every one of them at the end."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client, self.started = client, []

    def run(self, image: str, command: str, **kwargs: Any) -> Any:
        container = self.client.containers.create(image, command, labels={"bench": "chainer_serving"}, **kwargs)
        self.started.append(container)  # tracked before start: a failed start is removed too
        container.start()
        return container

    @staticmethod
    def remove(container: Any) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)

    def remove_all(self) -> None:
        for container in self.started:
            self.remove(container)


def train_model(containers: Containers, image: str, data: Path, root: Path, epochs: int) -> Path:
    opt_ml = root / "opt_ml"
    (opt_ml / "input/config").mkdir(parents=True)
    (opt_ml / "input/config/hyperparameters.json").write_text(json.dumps({"epochs": str(epochs)}))
    volumes = {str(opt_ml): {"bind": "/opt/ml", "mode": "rw"}}
    for channel in ("train", "valid"):
        volumes[str((data / channel).resolve())] = {"bind": f"/opt/ml/input/data/{channel}", "mode": "ro"}
    container = containers.run(image, "train", volumes=volumes, network_mode="none")
    if (status := container.wait(timeout=3600)["StatusCode"]) != 0:
        raise RuntimeError(f"training failed ({status}):\n{container.logs().decode(errors='replace')[-3000:]}")
    containers.remove(container)
    return opt_ml / "model"


def start_server(containers: Containers, image: str, model_dir: Path, workers: int) -> tuple[Any, str, float]:
    """A started server, its URL and the seconds from `docker run` to the first /ping 200."""
    with socket.socket() as probe:  # a free loopback port, chosen up front so no inspect is needed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = checked = time.perf_counter()
    container = containers.run(
        image,
        "serve",
        volumes={str(model_dir.resolve()): {"bind": "/opt/ml/model", "mode": "ro"}},
        environment={"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), "MODEL_SERVER_WORKERS": str(workers)},
        ports={"8080/tcp": ("127.0.0.1", port)},
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return container, url, time.perf_counter() - started
        if (now := time.perf_counter()) - checked > 1:
            container.reload()
            if container.status in ("exited", "dead") or now - started > 120:
                raise RuntimeError(f"{image} serve never answered /ping:\n{container.logs().decode(errors='replace')}")
            checked = now
        time.sleep(0.005)


def cpu_seconds(container: Any) -> float | None:
    """CPU time used by the container so far (cgroup v1 or v2), None when the cgroup is not found."""
    for path, scale in (
        (f"/sys/fs/cgroup/cpuacct/docker/{container.id}/cpuacct.usage", 1e-9),
        (f"/sys/fs/cgroup/system.slice/docker-{container.id}.scope/cpu.stat", 1e-6),
        (f"/sys/fs/cgroup/docker/{container.id}/cpu.stat", 1e-6),
    ):
        with contextlib.suppress(OSError, ValueError):
            text = Path(path).read_text()
            return int(re.search(r"usage_usec (\d+)", text).group(1) if "usage_usec" in text else text) * scale
    return None


def row(p50_ms: float, p99_ms: float, rps: float, requests_done: int, **extra: Any) -> dict[str, Any]:
    stats = {"p50_ms": round(float(p50_ms), 3), "p99_ms": round(float(p99_ms), 3), "rps": round(rps, 1)}
    return {**stats, "requests": requests_done, **extra}


def serial_loop(model_dir: str, body: bytes, start_at: float, duration: float) -> list[float]:
    """One process calling decode + predict + encode back to back; warms up until ``start_at`` (wall clock)."""
    handler = MnistHandler.load(Path(model_dir))
    latencies: list[float] = []
    while (now := time.time()) < start_at + duration:
        t0 = time.perf_counter()
        handler.encode(handler.predict(handler.decode(body, JSON)), JSON)
        if now >= start_at:
            latencies.append(time.perf_counter() - t0)
    return latencies


def inprocess_single(model_dir: Path, body: bytes, concurrency: int, workers: int, duration: int, warmup: int) -> dict:
    processes = min(concurrency, workers)
    start_at = time.time() + warmup + 5  # every process has loaded the model and warmed up by then
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(serial_loop, str(model_dir), body, start_at, duration) for _ in range(processes)]
        ms = np.array([x for f in futures for x in f.result()]) * 1e3
    return row(np.percentile(ms, 50), np.percentile(ms, 99), len(ms) / duration, len(ms), processes=processes)


def wrk(url: str, lua: Path, connections: int, duration: int) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pct = {p: float(v) * UNITS_MS[u] for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    # "Non-2xx or 3xx responses: N" and "Socket errors: connect N, read N, ..." appear only on failures
    failed = re.findall(r"(?:Non-2xx or 3xx responses:|connect|read|write|timeout) (\d+)", out)
    rps, done = re.search(r"Requests/sec:\s+([\d.]+)", out)[1], re.search(r"(\d+) requests in", out)[1]
    return row(pct["50"], pct["99"], float(rps), int(done), failed=sum(map(int, failed)))


def csv_chunks(images: np.ndarray) -> list[tuple[bytes, int]]:
    """Images as CSV lines packed into <= MAX_PAYLOAD bodies (SplitType=Line, BatchStrategy=MultiRecord)."""
    buffer = io.BytesIO()
    np.savetxt(buffer, images, fmt="%d", delimiter=",")
    chunks, lines, size = [], [], 0
    for line in buffer.getvalue().splitlines(keepends=True):
        if size + len(line) > MAX_PAYLOAD:
            chunks.append((b"".join(lines), len(lines)))
            lines, size = [], 0
        lines.append(line)
        size += len(line)
    return [*chunks, (b"".join(lines), len(lines))]


def http_batch(url: str, chunks: list[tuple[bytes, int]], concurrency: int) -> tuple[float, list[int]]:
    """One MultiRecord pass: ``concurrency`` requests in flight at a time; seconds and predicted labels."""

    def post(body: bytes) -> list[int]:
        r = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": CSV, "Accept": CSV}, timeout=600)
        r.raise_for_status()
        return [int(x) for x in r.text.split()]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        predicted = [y for answer in pool.map(post, [body for body, _ in chunks]) for y in answer]
    return time.perf_counter() - started, predicted


def inprocess_batch(handler: MnistHandler, images: np.ndarray, chunks: list[tuple[bytes, int]]) -> dict[str, float]:
    """Seconds of one pass: predict only (images already float32), and decode + predict + encode of the CSV."""
    arrays = np.split(images.astype(np.float32) / np.float32(255), np.cumsum([n for _, n in chunks])[:-1])
    started = time.perf_counter()
    for x in arrays:
        handler.predict(x)
    middle = time.perf_counter()
    for body, _ in chunks:
        handler.encode(handler.predict(handler.decode(body, CSV)), CSV)
    return {"predict": middle - started, "decode_predict_encode": time.perf_counter() - middle}


def build_baseline(image: str, tag: str) -> None:
    cmd = ["/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker", "build", "--network", "host"]
    if os.path.exists(bundle := "/etc/ssl/certs/ca-certificates.crt"):
        cmd += ["--secret", f"id=ca,src={bundle}"]
    cmd += ["--build-arg", f"BASE_IMAGE={image}", "-t", tag, str(HERE / "baseline")]
    done = subprocess.run(cmd, env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{done.stderr[-3000:]}")


def wrk_run(container: Any, url: str, lua: Path, connections: int, args: argparse.Namespace) -> dict:
    wrk(f"{url}/invocations", lua, connections, args.warmup)
    cpu_before = cpu_seconds(container)
    run = wrk(f"{url}/invocations", lua, connections, args.duration)
    if cpu_before is not None:
        run["container_cpu_ms_per_request"] = round((cpu_seconds(container) - cpu_before) * 1e3 / run["requests"], 3)
    return run


def bench(args: argparse.Namespace, containers: Containers, tmp: Path) -> dict:
    model_dir = args.model_dir or train_model(containers, args.image, args.data, tmp, args.epochs)
    build_baseline(args.image, args.baseline_image)
    handler = MnistHandler.load(model_dir)
    holdout = [np.load(args.data / f"{split}/{split}.npz") for split in ("valid", "test")]
    images = np.concatenate([z["images"] for z in holdout]).reshape(-1, 784)
    labels = np.concatenate([z["labels"] for z in holdout])
    body = json.dumps({"instances": [images[0].tolist()]}).encode()
    expected_label = int(handler.predict(handler.decode(body, JSON)).argmax())
    (tmp / "body.json").write_bytes(body)
    lua = tmp / "post.lua"
    lua.write_text(WRK_SCRIPT.format(ct=JSON, path=json.dumps(str(tmp / "body.json"))))
    chunks = csv_chunks(images)
    servers = {"ours": args.image, "baseline": args.baseline_image}

    cold: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(args.cold_starts):  # alternating, so that load from elsewhere hits both alike
        for name, image in servers.items():
            container, _, seconds = start_server(containers, image, model_dir, args.workers)
            containers.remove(container)
            cold[name].append(round(seconds, 3))
    running = {name: start_server(containers, image, model_dir, args.workers)[:2] for name, image in servers.items()}
    for _, url in running.values():
        answer = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": JSON}, timeout=10).json()
        assert answer["predictions"][0]["label"] == expected_label, answer

    single: dict[str, dict] = {name: {} for name in ("inprocess", *servers)}
    for c in args.concurrency:
        runs: dict[str, list[dict]] = {name: [] for name in single}
        for _ in range(args.rounds):
            runs["inprocess"].append(inprocess_single(model_dir, body, c, args.workers, args.duration, args.warmup))
            for name, (container, url) in running.items():
                runs[name].append(wrk_run(container, url, lua, c, args))
        for name, measured in runs.items():
            best = single[name][f"c{c}"] = max(measured, key=lambda run: run["rps"])
            best["rps_of_rounds"] = [run["rps"] for run in measured]
            print(f"{name} c={c}: {best}", flush=True)

    seconds: dict[str, list[float]] = {name: [] for name in ("predict", "decode_predict_encode", *servers)}
    for _ in range(args.rounds + 1):
        for name, passed in inprocess_batch(handler, images, chunks).items():
            seconds[name].append(passed)
        for name, (_, url) in running.items():
            passed, predicted = http_batch(url, chunks, args.workers)
            assert np.mean(np.array(predicted) == labels) > 0.9, f"{name}: batch predictions do not match the labels"
            seconds[name].append(passed)
    batch = {"images": len(images), "requests": len(chunks)}
    batch |= {
        k: {"images_per_s": round(len(images) / min(s), 1), "seconds": [round(x, 3) for x in s]}
        for k, s in seconds.items()
    }
    cold_start = {name: {"median": statistics.median(runs), "runs": runs} for name, runs in cold.items()}
    image = {"name": args.image, "size_mb": round(containers.client.images.get(args.image).attrs["Size"] / 1e6, 1)}
    return {"single": single, "batch": batch, "cold_start_s": cold_start, "image": image}


def report(results: dict) -> dict:
    single, batch = results["single"], results["batch"]
    values = {
        "p50_overhead_ms": round(single["ours"]["c1"]["p50_ms"] - single["inprocess"]["c1"]["p50_ms"], 3),
        "rps_vs_baseline_c16": round(single["ours"]["c16"]["rps"] / single["baseline"]["c16"]["rps"], 2),
        "batch_vs_inprocess": round(batch["ours"]["images_per_s"] / batch["predict"]["images_per_s"], 3),
        "image_mb": results["image"]["size_mb"],
        "cold_start_s": results["cold_start_s"]["ours"]["median"],
    }
    print(f"\n{'single image':<12}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}{'cpu ms/req':>12}")
    for name, runs in single.items():
        for key, run in runs.items():
            cpu = run.get("container_cpu_ms_per_request", "")
            print(f"{name:<12}{key[1:]:>5}{run['p50_ms']:>9.2f}{run['p99_ms']:>9.2f}{run['rps']:>8.0f}{cpu:>12}")
    rates = {k: v["images_per_s"] for k, v in batch.items() if isinstance(v, dict)}
    print(f"\nbatch, {batch['images']} images in {batch['requests']} CSV requests, images/s: {rates}")
    print(f"cold start medians (s): { {k: v['median'] for k, v in results['cold_start_s'].items()} }\n")
    verdicts = {}
    for key, value in values.items():
        target, higher = TARGETS[key]
        met = value >= target if higher else value <= target
        verdicts[key] = {"value": value, "target": target, "higher_is_better": higher, "met": met}
        print(f"{key:<22}{value:>10}  target {'>=' if higher else '<='} {target:<5} {'met' if met else 'MISSED'}")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="byoc/chainer-mnist:latest")
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--model-dir", type=Path, help="a folder with model.npz + model.json (default: train one)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the model trained without --model-dir")
    parser.add_argument("--baseline-image", default="byoc/chainer-mnist-baseline:bench", help="tag to build")
    parser.add_argument("--workers", type=int, default=2, help="server processes of both servers")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs per measurement; the best counts")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/chainer_serving.json"))
    args = parser.parse_args(argv)
    if not {1, 16} <= set(args.concurrency):
        parser.error("--concurrency must include 1 and 16 (the targets use them)")
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below still runs

    load_before = os.getloadavg()[0]
    containers = Containers(docker.from_env())
    tmp = Path(tempfile.mkdtemp(prefix="chainer_serving_"))
    try:
        results = bench(args, containers, tmp)
    finally:
        containers.remove_all()
        shutil.rmtree(tmp, ignore_errors=True)
    results["targets"] = report(results)
    model = "--model-dir" if args.model_dir else f"default MLP trained for {args.epochs} epoch(s)"
    results["setup"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "workers": args.workers}
    results["setup"] |= {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds, "model": model}
    # the host is shared: a high load average means noisy numbers
    results["setup"]["loadavg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
