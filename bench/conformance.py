"""How long ``conformance`` takes per image, and what it found: the target is at most 3 minutes per image.

Runs ``python -m byoc_pipelines.cli conformance`` on each image (one after the other, so they do not share the
cores), times it from start to exit, samples the machine's load meanwhile, and keeps each image's counts and the
slowest checks from its ``report.json``. ``--baseline TAG`` also builds the nginx + gunicorn + Flask layout of
AWS's scikit_bring_your_own sample (bench/baseline) on the chainer-mnist image as TAG and checks it with
chainer-mnist's descriptor (its trainer is chainer-mnist's, its server the sample's).

    .venv/pipelines/bin/python bench/conformance.py --image chainer-mnist=byoc/chainer-mnist:bench \\
        --image keras-text=byoc/keras-text:bench --baseline byoc/chainer-mnist-baseline:bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness import results
from harness.containers import build_baseline

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 180.0
CHAINER_DESCRIPTOR = "containers/chainer-mnist/image.toml"


def run(image: str, extra: list[str], run: results.Run, out: Path) -> dict[str, Any]:
    """One image through the suite: wall time, exit status, counts, the slowest checks, failures and skips."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5.0):
            run.sample_load()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out  # the record names no machine's paths
    command = [sys.executable, "-m", "byoc_pipelines.cli", "conformance", image, "--out", str(shown), *extra]
    started = time.monotonic()
    with results.stage(f"conformance {image}"):
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    stop.set()
    folder = out / "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in image)
    report = json.loads((folder / "report.json").read_text())
    checks = report["results"]
    return {
        "image": image,
        "command": " ".join(command[1:]),
        "exit_status": done.returncode,
        "wall_seconds": round(seconds, 1),
        "counts": report["counts"],
        "slowest": sorted(({"id": r["id"], "seconds": r["seconds"]} for r in checks), key=lambda r: -r["seconds"])[:5],
        "not_passed": {
            r["id"]: {"status": r["status"], "measured": r["measured"], "detail": r["detail"]}
            for r in checks
            if r["status"] != "pass"
        },
        "results": {r["id"]: {"status": r["status"], "measured": r["measured"]} for r in checks},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", action="append", default=[], metavar="NAME=TAG", help="an image to check")
    parser.add_argument("--baseline", metavar="TAG", help="the baseline image (bench/baseline) to check too")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-conformance")
    results.add_noise_argument(parser)
    args = parser.parse_args()
    images = dict(item.split("=", 1) for item in args.image)
    bench = results.Run("conformance", args.allow_noisy)
    found = {name: run(tag, [], bench, args.out) for name, tag in images.items()}
    if args.baseline:
        build_baseline(images["chainer-mnist"], args.baseline)
        found["baseline"] = run(args.baseline, ["--descriptor", CHAINER_DESCRIPTOR], bench, args.out)
    targets = [
        results.Target(
            f"{name} conformance run",
            entry["wall_seconds"],
            "<=",
            BUDGET_S,
            "s",
            "{pass} passed, {fail} failed, {skip} skipped".format(**entry["counts"]),
        )
        for name, entry in found.items()
        if name != "baseline"
    ]
    record = bench.record(
        {"images": found}, targets, images={**images, **({"baseline": args.baseline} if args.baseline else {})}
    )
    results.write(record, results.RESULTS_DIR / "conformance.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
