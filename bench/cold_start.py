"""Cold start of every image: ``docker run IMAGE serve`` to the first /ping 200, one harness for all of them.

Each image serves a model it trained itself (cached, see :mod:`harness.models`) with its default workers; the
images alternate, --runs times each, and the median is the answer (the only bench that answers it). The clock
starts before the container is created and stops at the first 200 of /ping, polled every 5 ms over loopback.
Refuses to run when the 1-minute load is above 1.0, unless --allow-noisy (the result then says "noisy": true).

    .venv/chainer-mnist/bin/python bench/cold_start.py --image chainer-mnist=byoc/chainer-mnist:bench \
        --image keras-text=byoc/keras-text:bench
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import containers as hc
from harness import models, results

TARGETS_S = {"chainer-mnist": 1.0, "keras-text": 3.0}


def model_dir(cs: hc.Containers, kind: str, image: str, args: argparse.Namespace) -> Path:
    if kind == "chainer-mnist":
        return models.chainer_model(cs, image, args.data)
    return models.keras_model(cs, image, args.knbc)


def measure(args: argparse.Namespace, cs: hc.Containers) -> dict[str, Any]:
    images = dict(item.split("=", 1) for item in args.image)
    specs = {
        kind: hc.ServerSpec(image, volumes={str(model_dir(cs, kind, image, args)): "/opt/ml/model"})
        for kind, image in images.items()
    }
    with results.stage(f"cold starts, {args.runs} per image"):
        found = hc.cold_starts(cs, specs, args.runs)
    return {"cold_start": found, "images": images, "settings": {"runs": args.runs}}


def targets(payload: dict[str, Any]) -> list[results.Target]:
    return [
        results.Target(
            f"{kind} cold start, docker run to the first /ping 200 (median)",
            runs["median_s"],
            "<=",
            TARGETS_S[kind],
            "s",
            f"runs {runs['runs_s']}",
        )
        for kind, runs in payload["cold_start"].items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--image", action="append", required=True, metavar="KIND=IMAGE", help=f"KIND in {sorted(TARGETS_S)}"
    )
    parser.add_argument("--runs", type=int, default=5, help="cold starts per image")
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--knbc", type=Path, default=Path("datasets/knbc"))
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "cold_start.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    unknown = {item.split("=", 1)[0] for item in args.image} - set(TARGETS_S)
    if unknown:
        parser.error(f"unknown image kind(s) {sorted(unknown)}; use {sorted(TARGETS_S)}")
    run = results.Run("cold_start", args.allow_noisy)
    with hc.Containers(run.bench) as cs:
        payload = measure(args, cs)
    results.write(run.record(payload, targets(payload), payload["images"]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
