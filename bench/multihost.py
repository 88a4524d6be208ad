"""Multi-host training: the built-in trainer on 2 local hosts against 1 host, equal epochs, same data and seed.

chainer-mnist trains data-parallel on several hosts (each process takes its share of every global batch, the
gradients are all-reduced with ChainerMN over Open MPI), so its accuracy should match one host's: the target is
|test accuracy (2 hosts) - test accuracy (1 host)| <= 0.5 points. keras-text does the same with TensorFlow's
MultiWorkerMirroredStrategy (one worker per host, ``batch-size`` the global batch); its test split has 419
texts (one text is 0.24 points), so its target is 1 point. The hosts are containers on one machine
(:mod:`harness.cluster`), so they share its cores: the wall times show the cost of the all-reduce, not a
speed-up.

    .venv/chainer-mnist/bin/python bench/multihost.py chainer-mnist --image byoc/chainer-mnist:bench --epochs 3
    .venv/chainer-mnist/bin/python bench/multihost.py keras-text --image byoc/keras-text:bench --epochs 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import cluster, models, results
from harness.containers import Containers


@dataclass(frozen=True)
class Case:
    """One image's multi-host bench: its channels, hyperparameters and where its test accuracy is written."""

    channels: dict[str, Path]
    hyperparameters: dict[str, str]
    accuracy: Callable[[Path], float]  # the master's /opt/ml root -> test accuracy (0..1)
    epochs: Callable[[Path], list[dict[str, Any]]]  # the master's /opt/ml root -> one summary row per epoch
    parallel_marker: str  # a log line that shows the hosts trained together
    accuracy_points: float  # the target: |accuracy (several hosts) - accuracy (1 host)| in points


def chainer_case(args: argparse.Namespace) -> Case:
    def accuracy(root: Path) -> float:
        return float(json.loads((root / "output/data/results.json").read_text())["test_accuracy"])

    def epochs(root: Path) -> list[dict[str, Any]]:
        return [
            {
                "epoch": row["epoch"],
                "val_accuracy": round(row["val_accuracy"], 4),
                "images_per_s": round(row["images_per_sec"], 1),
            }
            for row in json.loads((root / "output/data/metrics.json").read_text())
        ]

    hps = {"epochs": str(args.epochs), "units": str(args.units), "seed": str(args.seed)}
    return Case(
        {c: args.data / c for c in ("train", "valid", "test")}, hps, accuracy, epochs, "data-parallel training", 0.5
    )


def keras_text_case(args: argparse.Namespace) -> Case:
    """keras-text's built-in trainer on several hosts (MultiWorkerMirroredStrategy, one worker per host).

    The KNB ``train`` and ``test`` channels, ``epochs`` fixed with early stopping off (``validation-split`` 0:
    all of ``train`` is trained on and both runs train equal epochs); the master's ``test_metrics.json`` holds
    the test accuracy.
    """

    def accuracy(root: Path) -> float:
        return float(json.loads((root / "output/data/test_metrics.json").read_text())["accuracy"])

    def epochs(root: Path) -> list[dict[str, Any]]:
        return [
            {
                "epoch": row["epoch"],
                "train_loss": round(row["train_loss"], 4),
                "train_accuracy": round(row["train_accuracy"], 4),
                "texts_per_s": round(row["texts_per_sec"], 1),
            }
            for row in json.loads((root / "output/data/history.json").read_text())
        ]

    hps = {"epochs": str(args.epochs), "validation-split": "0", "seed": str(args.seed)}
    return Case(
        {c: args.knbc / c for c in ("train", "test")}, hps, accuracy, epochs, "MultiWorkerMirroredStrategy", 1.0
    )


CASES: dict[str, Callable[[argparse.Namespace], Case]] = {"chainer-mnist": chainer_case, "keras-text": keras_text_case}


def job(cs: Containers, image: str, case: Case, hosts: int, tmp: Path) -> dict[str, Any]:
    names = cluster.host_names(hosts)
    roots = {}
    for host in names:
        roots[host] = tmp / f"{hosts}-hosts" / host
        models.write_opt_ml(roots[host], case.hyperparameters, case.channels, hosts=names, current_host=host)
    with results.stage(f"{hosts} host(s)"):
        runs = cluster.train_on_hosts(cs, image, roots)
    failed = [r for r in runs if r.exit_code != 0]
    if failed:
        raise RuntimeError(f"{failed[0].host} exited {failed[0].exit_code}:\n{failed[0].logs[-3000:]}")
    master = roots[names[0]]
    return {
        "hosts": hosts,
        "seconds": max(r.seconds for r in runs),
        "test_accuracy": round(case.accuracy(master), 4),
        "epochs": case.epochs(master),
        "data_parallel_logged": any(case.parallel_marker in r.logs for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(CASES))
    parser.add_argument("--image", help="default: byoc/<kind>:bench")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--knbc", type=Path, default=Path("datasets/knbc"))
    parser.add_argument("--out", type=Path)
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    image = args.image or f"byoc/{args.kind}:bench"
    case = CASES[args.kind](args)
    run = results.Run(f"multihost_{args.kind.replace('-', '_')}", args.allow_noisy)
    models.CACHE.parent.mkdir(parents=True, exist_ok=True)
    with Containers(run.bench) as cs, tempfile.TemporaryDirectory(prefix="multihost_", dir=models.CACHE.parent) as tmp:
        one = job(cs, image, case, 1, Path(tmp))
        run.sample_load()
        several = job(cs, image, case, args.hosts, Path(tmp))
    delta = round(abs(several["test_accuracy"] - one["test_accuracy"]) * 100, 2)
    payload = {"image_kind": args.kind, "one_host": one, f"{args.hosts}_hosts": several, "accuracy_delta_points": delta}
    payload["settings"] = case.hyperparameters | {"hosts": args.hosts}
    note = f"{several['test_accuracy']} ({args.hosts} hosts) vs {one['test_accuracy']} (1 host), {args.epochs} epochs"
    targets = [
        results.Target(
            f"{args.kind} {args.hosts}-host accuracy - 1-host, points",
            delta,
            "<=",
            case.accuracy_points,
            "points",
            note,
        )
    ]
    results.write(
        run.record(payload, targets, {args.kind: image}), args.out or results.RESULTS_DIR / f"{run.bench}.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
