"""The main job on one machine with Docker only: train the Chainer MNIST model in its image, serve it, and run
a batch transform of ``test.npy`` through ``/invocations`` (MultiRecord, SplitType=Line, as SageMaker does),
then print the accuracy against the held-out labels.

    python scripts/demo_chainer.py --image byoc/chainer-mnist:latest --data data/mnist [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import docker
import numpy as np
import requests

MAX_PAYLOAD = 6 * 1024 * 1024


def log(message: str) -> None:
    print(f">> {message}", flush=True)


def train(client: docker.DockerClient, image: str, data: Path, run: Path, epochs: int) -> None:
    opt_ml = run / "opt_ml"
    (opt_ml / "input/config").mkdir(parents=True)
    (opt_ml / "input/config/hyperparameters.json").write_text(json.dumps({"epochs": str(epochs)}))
    volumes = {str(opt_ml.resolve()): {"bind": "/opt/ml", "mode": "rw"}}
    for channel in ("train", "valid", "test"):
        volumes[str((data / channel).resolve())] = {"bind": f"/opt/ml/input/data/{channel}", "mode": "ro"}
    log(f"training ({epochs} epochs of the 60,000 images; the tutorial runs 20) in {image}")
    container = client.containers.run(image, "train", detach=True, volumes=volumes)
    try:
        for line in container.logs(stream=True, follow=True):
            text = line.decode(errors="replace").rstrip()
            if "epoch=" in text or "ERROR" in text or "model saved" in text:
                print("   " + text.split(": ", 1)[-1], flush=True)
        code = container.wait()["StatusCode"]
    finally:
        container.remove(force=True)
    if code != 0:
        failure = opt_ml / "output/failure"
        raise SystemExit(f"training failed (exit {code}): {failure.read_text().strip() if failure.exists() else ''}")


def batch_transform(client: docker.DockerClient, image: str, run: Path, test_npy: Path) -> np.ndarray:
    opt_ml = run / "opt_ml"
    log("starting the model server")
    container = client.containers.run(
        image,
        "serve",
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", None)},
        volumes={str((opt_ml / "model").resolve()): {"bind": "/opt/ml/model", "mode": "ro"}},
    )
    try:
        container.reload()
        url = f"http://127.0.0.1:{container.ports['8080/tcp'][0]['HostPort']}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not become ready:\n{container.logs().decode()}")
            time.sleep(0.1)
        lines = [",".join(map(str, row)) + "\n" for row in np.load(test_npy).reshape(-1, 784)]
        log(f"batch transform of {test_npy.name}: {len(lines)} records, MultiRecord mini-batches of up to 6 MB")
        labels: list[int] = []
        batch: list[str] = []
        size = 0
        for line in [*lines, None]:
            if line is None or size + len(line) > MAX_PAYLOAD:
                response = requests.post(
                    f"{url}/invocations",
                    data="".join(batch).encode(),
                    headers={"Content-Type": "text/csv", "Accept": "text/csv"},
                    timeout=60,
                )
                response.raise_for_status()
                labels += [int(x) for x in response.text.splitlines()]
                batch, size = [], 0
            if line is not None:
                batch.append(line)
                size += len(line)
        out = run / "transform" / f"{test_npy.name}.out"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(f"{k}\n" for k in labels))
        return np.array(labels)
    finally:
        container.remove(force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--run-dir", type=Path, default=Path("build/demo/chainer-mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=600)
    shutil.rmtree(args.run_dir, ignore_errors=True)
    started = time.monotonic()
    train(client, args.image, args.data, args.run_dir, args.epochs)
    predicted = batch_transform(client, args.image, args.run_dir, args.data / "transform" / "test.npy")
    truth = np.load(args.data / "test_labels.npy")
    accuracy = float(np.mean(predicted == truth))
    log(f"batch transform accuracy on the 1,000 held-out images: {accuracy:.4f}")
    log(f"done in {time.monotonic() - started:.0f} s; artifacts:")
    for path in ("opt_ml/model", "opt_ml/output/data", "opt_ml/checkpoints", "transform"):
        print(f"   {args.run_dir / path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
