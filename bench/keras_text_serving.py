"""Performance of the keras-text image: training time, image size, latency and throughput.

Trains the default model with the image itself on the full train split (unless --model-root points at a
trained /opt/ml) and times that job, then starts `serve` and measures p50/p99 latency of single `{"q": ...}`
requests over HTTP and requests/s at concurrency 16. Cold starts are bench/cold_start.py's (one harness for
every image).

    .venv/keras-text/bin/python bench/keras_text_serving.py --image byoc/keras-text:latest
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import requests

from harness import results

REPO = Path(__file__).resolve().parent.parent
SENTENCES = ["電波が悪い", "清水寺に行きました", "ラーメンがおいしかった", "試合に勝った", "新しい携帯を買った"]

logger = logging.getLogger("bench.keras_text_serving")


def _train(client: docker.DockerClient, image: str, root: Path, data: Path, hps: dict[str, str]) -> float:
    """Seconds from `docker run IMAGE train` to its exit."""
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))
    folder = root / "input/data/train"
    folder.mkdir(parents=True)
    for name in ("features.csv", "labels.csv"):
        (folder / name).write_bytes((data / "train" / name).read_bytes())
    started = time.monotonic()
    container = client.containers.run(image, "train", detach=True, volumes={str(root): {"bind": "/opt/ml"}})
    try:
        code = container.wait(timeout=1800)["StatusCode"]
        seconds = time.monotonic() - started
        if code != 0:
            raise RuntimeError(f"training failed ({code}): {container.logs().decode()[-2000:]}")
    finally:
        container.remove(force=True)
    return seconds


def _epochs(root: Path) -> int | None:
    history = root / "output/data/history.json"
    return len(json.loads(history.read_text())) if history.is_file() else None


def _start(client: docker.DockerClient, image: str, root: Path) -> tuple[object, str]:
    started = time.monotonic()
    container = client.containers.run(
        image, "serve", detach=True, volumes={str(root): {"bind": "/opt/ml"}}, ports={"8080/tcp": ("127.0.0.1", None)}
    )
    url = ""
    while time.monotonic() - started < 180:
        container.reload()
        if container.status == "exited":
            raise RuntimeError(container.logs().decode()[-2000:])
        ports = container.ports.get("8080/tcp")
        if ports:
            url = f"http://127.0.0.1:{ports[0]['HostPort']}"
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                    return container, url
            except requests.ConnectionError:
                pass
        time.sleep(0.05)
    raise TimeoutError("no /ping 200 within 180 s")


def _latencies(url: str, n: int) -> list[float]:
    session, out = requests.Session(), []
    for i in range(n):
        t = time.perf_counter()
        response = session.post(f"{url}/invocations", json={"q": SENTENCES[i % len(SENTENCES)]}, timeout=10)
        out.append((time.perf_counter() - t) * 1e3)
        response.raise_for_status()
    return out


def _throughput(url: str, total: int, concurrency: int) -> float:
    def call(i: int) -> int:
        return requests.post(f"{url}/invocations", json={"q": SENTENCES[i % len(SENTENCES)]}, timeout=30).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        codes = list(pool.map(call, range(total)))
    elapsed = time.perf_counter() - started
    if set(codes) != {200}:
        raise RuntimeError(f"non-200 answers: {sorted(set(codes))}")
    return total / elapsed


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="byoc/keras-text:latest")
    parser.add_argument("--data", type=Path, default=REPO / "datasets/knbc")
    parser.add_argument("--model-root", type=Path, help="an /opt/ml tree that already holds a trained model")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="training hyperparameter")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_serving.json")
    results.add_noise_argument(parser)
    args = parser.parse_args()
    client = docker.from_env(timeout=300)
    run = results.Run("keras_text_serving", args.allow_noisy)
    image_bytes = client.images.get(args.image).attrs["Size"]
    with tempfile.TemporaryDirectory(prefix="keras_text_serving_") as tmp:
        root = args.model_root or Path(tmp)
        training_seconds = None
        if args.model_root is None:
            logger.info("training the default model with %s on the full train split", args.image)
            hps = dict(item.split("=", 1) for item in args.hp)
            training_seconds = round(_train(client, args.image, root, args.data, hps), 1)
        epochs = _epochs(root)
        container, url = _start(client, args.image, root)
        try:
            _latencies(url, 20)  # warm the connection and both workers
            answers = {
                text: requests.post(f"{url}/invocations", json={"q": text}, timeout=30).json() for text in SENTENCES
            }
            latencies = sorted(_latencies(url, args.requests))
            rps = _throughput(url, args.requests * 2, args.concurrency)
        finally:
            container.remove(force=True)
    result = {
        "image": args.image,
        "image_size_mb": round(image_bytes / 1e6, 1),
        "training_seconds": training_seconds,
        "training_epochs": epochs,
        "latency_ms": {
            "requests": len(latencies),
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
        },
        "throughput": {"concurrency": args.concurrency, "requests_per_s": round(rps, 1)},
        "answers": answers,  # what the trained model says, for the READMEs
    }
    targets = [
        results.Target("keras-text image size", result["image_size_mb"], "<=", 1300, "MB"),
        results.Target(
            "keras-text training job on the full train split (docker run IMAGE train)",
            training_seconds,
            "<=",
            180,
            "s",
            f"{epochs} epochs, early stopping",
        ),
    ]
    results.write(run.record(result, targets, {"keras-text": args.image}), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
