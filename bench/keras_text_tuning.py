"""Choosing the keras-text defaults on a validation split carved from datasets/knbc/train (never the test set).

A stratified 15 % of train (seed 1) is held out as the tuning set. Each configuration trains the image's job in
process on the other 85 % (which it splits again for early stopping) and is scored on the held-out rows.
Results go to bench/results/keras_text_tuning.json after every run, so an interrupted search keeps its rows.

    .venv/keras-text/bin/python bench/keras_text_tuning.py                      # the built-in search
    .venv/keras-text/bin/python bench/keras_text_tuning.py --config hidden=128 --config "vocab-size=2000 hidden=32"
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shlex
import tempfile
import time
from pathlib import Path

from keras_text.backend import keras
from keras_text.training import data
from keras_text.training.job import VECTORS_ENV, train
from keras_text_quality import baselines
from sm_contract.training import run_training

REPO = Path(__file__).resolve().parent.parent
HOLDOUT_FRACTION, HOLDOUT_SEED = 0.15, 1
# One knob at a time around the defaults; "" is the defaults themselves.
SEARCH = [
    "",
    "vocab-size=2000",
    "vocab-size=4000",
    "embedding-dim=50",
    "embedding-dim=200",
    "hidden=32",
    "hidden=128",
    "batch-size=16",
    "batch-size=64",
    "freeze-embeddings=true",
    "input-len=48",
]

logger = logging.getLogger("bench.keras_text_tuning")


def _read(split: Path) -> tuple[list[str], list[str]]:
    texts = data.read_column(split / data.FEATURES_FILE, data.FEATURE_COLUMN, str(split))
    labels = data.read_column(split / data.LABELS_FILE, data.LABEL_COLUMN, str(split))
    return texts, labels


def _write_channel(folder: Path, texts: list[str], labels: list[str]) -> None:
    folder.mkdir(parents=True)
    for name, column, values in (
        (data.FEATURES_FILE, data.FEATURE_COLUMN, texts),
        (data.LABELS_FILE, data.LABEL_COLUMN, labels),
    ):
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([column])
            writer.writerows([v] for v in values)


def _score(
    root: Path,
    hps: dict[str, str],
    fit: tuple[list[str], list[str]],
    held: tuple[list[str], list[str]],
    vectors: Path,
) -> dict:
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))
    _write_channel(root / "input/data/train", *fit)
    _write_channel(root / "input/data/test", *held)  # the job's "test" channel is our tuning split
    (root / "input/config/inputdataconfig.json").write_text(
        json.dumps({c: {"TrainingInputMode": "File"} for c in ("train", "test")})
    )
    started = time.perf_counter()
    code = run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(vectors)})
    seconds = time.perf_counter() - started
    keras.backend.clear_session()
    if code != 0:
        return {"failed": (root / "output/failure").read_text()[:300]}
    result = json.loads((root / "output/data/test_metrics.json").read_text(encoding="utf-8"))
    history = json.loads((root / "output/data/history.json").read_text(encoding="utf-8"))
    return {
        "tuning_accuracy": round(result["accuracy"], 4),
        "tuning_macro_f1": round(result["macro_f1"], 4),
        "early_stopping_val_accuracy": round(max(row.get("val_accuracy", 0.0) for row in history), 4),
        "epochs_run": len(history),
        "seconds": round(seconds, 1),
    }


def _aggregate(rows: list[dict]) -> list[dict]:
    """Mean tuning accuracy and macro-F1 per configuration over its seeds, best first.

    ``accuracy_range`` (lowest, highest over the seeds) shows the seed noise: a one-seed configuration ahead by
    less than that is not better.
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if "tuning_accuracy" in row:
            key = " ".join(f"{k}={v}" for k, v in sorted(row["overrides"].items()) if k != "seed") or "(defaults)"
            groups.setdefault(key, []).append(row)
    summary = [
        {
            "configuration": key,
            "runs": len(group),
            "mean_tuning_accuracy": round(sum(r["tuning_accuracy"] for r in group) / len(group), 4),
            "mean_tuning_macro_f1": round(sum(r["tuning_macro_f1"] for r in group) / len(group), 4),
            "accuracy_range": [min(r["tuning_accuracy"] for r in group), max(r["tuning_accuracy"] for r in group)],
        }
        for key, group in groups.items()
    ]
    return sorted(summary, key=lambda r: -r["mean_tuning_accuracy"])


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "datasets/knbc")
    parser.add_argument("--vectors", type=Path, default=REPO / "data/chive", help="the chiVe table (make chive)")
    parser.add_argument("--config", action="append", help='"key=value key=value" overrides (default: the search)')
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_tuning.json")
    parser.add_argument("--seeds", type=int, default=1, help="runs per configuration, with consecutive seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="the first of those seeds (0 is the default)")
    parser.add_argument("--append", action="store_true", help="add to the rows already in --out")
    parser.add_argument("--baselines", action="store_true", help="score the two baselines on the tuning split too")
    args = parser.parse_args()
    texts, labels = _read(args.data / "train")
    y = data.encode_labels(labels, data.label_index(labels), "train")
    fit_rows, held_rows = data.stratified_split(y, HOLDOUT_FRACTION, HOLDOUT_SEED)
    fit = ([texts[i] for i in fit_rows], [labels[i] for i in fit_rows])
    held = ([texts[i] for i in held_rows], [labels[i] for i in held_rows])
    previous = json.loads(args.out.read_text()) if args.append and args.out.is_file() else {}
    rows = previous.get("runs", [])
    reference = baselines(fit, held, args.vectors) if args.baselines else previous.get("baselines")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for config, seed in [(config, seed) for config in args.config or SEARCH for seed in seeds]:
        hps = dict(item.split("=", 1) for item in shlex.split(config))
        if seed:
            hps["seed"] = str(seed)
        with tempfile.TemporaryDirectory(prefix="keras_text_tuning_") as tmp:
            row = {"overrides": hps, **_score(Path(tmp), hps, fit, held, args.vectors)}
        rows.append(row)
        logger.info("%s", json.dumps(row, ensure_ascii=False))
        result = {
            "method": (
                f"stratified {HOLDOUT_FRACTION:.0%} of datasets/knbc/train (seed {HOLDOUT_SEED}) held out for "
                "scoring; each run trains on the rest (its own validation-split drives early stopping); "
                "the test split is never used"
            ),
            "rows": {"fit": len(fit_rows), "tuning": len(held_rows)},
            "baselines": reference,
            "runs": rows,
            "by_configuration": _aggregate(rows),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    ranking = _aggregate(rows)
    if ranking:
        logger.info("best mean over its seeds: %s", json.dumps(ranking[0], ensure_ascii=False))
    return 0 if ranking else 1


if __name__ == "__main__":
    raise SystemExit(main())
