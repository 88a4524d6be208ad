"""Choosing the keras-text defaults on a validation split carved from datasets/knbc/train (never the test set).

A stratified 15 % of train (seed 1) is held out as the tuning set. Each configuration trains the image's job in
process on the other 85 % (which it splits again for early stopping) and is scored on the held-out rows.
Every run is added to bench/results/keras_text_tuning.json as soon as it ends (under a file lock, so several
searches may write to it at once and an interrupted one keeps its rows).

The recorded search is ROUNDS: each configuration is a set of overrides on START (the defaults the search
started from), so a round means the same runs whatever the image's defaults are today.
bench/results/keras_text_tuning_sentencepiece.json keeps the earlier search, of the SentencePiece + word2vec model
that was the default then.

    make bench/tuning TUNING_ROUND=1 TUNING_SEEDS=1    # installs scikit-learn and extracts the chiVe table first
    .venv/keras-text/bin/python bench/keras_text_tuning.py --round 1 [--seeds 1 --first-seed 0] [--baselines]
    .venv/keras-text/bin/python bench/keras_text_tuning.py --round extra --config "hidden=128 dropout=0.3"
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import json
import logging
import os
import shlex
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_text.backend import keras
from keras_text.training import data
from keras_text.training.job import VECTORS_ENV, train
from keras_text_quality import baselines
from sm_contract.files import atomic_write
from sm_contract.training import run_training

REPO = Path(__file__).resolve().parent.parent
HOLDOUT_FRACTION, HOLDOUT_SEED = 0.15, 1
# The defaults the search started from, where they differ from today's (every run sets them, then its overrides).
START: dict[str, str] = {}
# Round 1: one knob (or one pair) at a time around START ("" is START itself), seed 0: a first look at which of
# the training-schedule and model options move the tuning accuracy at all; seed noise is about 0.04. Recorded
# with seed 0, then seed 1 for "" and the one configuration ahead of it (fine-tune-epochs=4).
ROUNDS: dict[str, list[str]] = {
    "1": [
        "",
        "fine-tune-epochs=4",
        "mask-padding=true",
        "class-weights=balanced",
        "learning-rate=0.002 learning-rate-decay=0.7",
        "dropout=0.5 lstm-dropout=0.3",
        "attention-width=8",
    ],
}

logger = logging.getLogger("bench.keras_text_tuning")
Split = tuple[list[str], list[str]]  # texts, labels


def _read(split: Path) -> Split:
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


def _score(root: Path, hps: dict[str, str], fit: Split, held: Split, vectors: Path) -> dict[str, Any]:
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
    meta = json.loads((root / "model/code/labels.json").read_text(encoding="utf-8"))
    return {
        "tuning_accuracy": round(result["accuracy"], 4),
        "tuning_macro_f1": round(result["macro_f1"], 4),
        "early_stopping_val_accuracy": round(max(row.get("val_accuracy", 0.0) for row in history), 4),
        "epochs_run": len(history),
        "seconds": round(seconds, 1),
        "load_1min_after": round(os.getloadavg()[0], 2),  # the seconds are wall time on a shared machine
        "hyperparameters": meta["hyperparameters"],
    }


def _configuration(row: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(row["overrides"].items()) if k != "seed") or "(start)"


def _aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean tuning accuracy and macro-F1 per configuration over its seeds, best first.

    ``accuracy_range`` (lowest, highest over the seeds) shows the seed noise: a one-seed configuration ahead by
    less than that is not better.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if "tuning_accuracy" in row:
            groups.setdefault(_configuration(row), []).append(row)
    summary = [
        {
            "configuration": key,
            "runs": len(group),
            "seeds": sorted(int(r["hyperparameters"]["seed"]) for r in group),
            "mean_tuning_accuracy": round(sum(r["tuning_accuracy"] for r in group) / len(group), 4),
            "mean_tuning_macro_f1": round(sum(r["tuning_macro_f1"] for r in group) / len(group), 4),
            "accuracy_range": [min(r["tuning_accuracy"] for r in group), max(r["tuning_accuracy"] for r in group)],
        }
        for key, group in groups.items()
    ]
    return sorted(summary, key=lambda r: -r["mean_tuning_accuracy"])


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _record(out: Path, rows: list[dict[str, Any]], header: dict[str, Any]) -> list[dict[str, Any]]:
    """Adds ``rows`` to the file's runs (read again under the lock: another search may have added some)."""
    with _locked(out):
        previous = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
        runs = previous.get("runs", []) + rows
        result = {
            **header,
            "baselines": header.get("baselines") or previous.get("baselines"),
            "runs": runs,
            "by_configuration": _aggregate(runs),
        }
        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return runs


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "datasets/knbc")
    parser.add_argument("--vectors", type=Path, default=REPO / "data/chive", help="the chiVe table (make chive)")
    parser.add_argument("--round", required=True, help=f"a recorded round ({', '.join(ROUNDS)}) or a new label")
    parser.add_argument("--config", action="append", help='"key=value key=value" overrides (default: the round)')
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_tuning.json")
    parser.add_argument("--seeds", type=int, default=1, help="runs per configuration, with consecutive seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="the first of those seeds (0 is the default)")
    parser.add_argument("--baselines", action="store_true", help="score the two baselines on the tuning split too")
    args = parser.parse_args()
    if not args.config and args.round not in ROUNDS:
        parser.error(f"--round {args.round!r} is not recorded: give its --config")
    return args


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    args = _arguments()
    texts, labels = _read(args.data / "train")
    y = data.encode_labels(labels, data.label_index(labels), "train")
    fit_rows, held_rows = data.stratified_split(y, HOLDOUT_FRACTION, HOLDOUT_SEED)
    fit = ([texts[i] for i in fit_rows], [labels[i] for i in fit_rows])
    held = ([texts[i] for i in held_rows], [labels[i] for i in held_rows])
    header = {
        "method": (
            f"stratified {HOLDOUT_FRACTION:.0%} of datasets/knbc/train (seed {HOLDOUT_SEED}) held out for "
            "scoring; each run trains on the rest (its own validation-split drives early stopping); "
            "the test split is never used"
        ),
        "rows": {"fit": len(fit_rows), "tuning": len(held_rows)},
        "start": START,
        "baselines": baselines(fit, held, args.vectors) if args.baselines else None,
    }
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs: list[dict[str, Any]] = []
    for config, seed in [(config, seed) for config in args.config or ROUNDS[args.round] for seed in seeds]:
        overrides = dict(item.split("=", 1) for item in shlex.split(config)) | {"seed": str(seed)}
        with tempfile.TemporaryDirectory(prefix="keras_text_tuning_") as tmp:
            row = {"round": args.round, "overrides": overrides}
            row |= _score(Path(tmp), START | overrides, fit, held, args.vectors)
        logger.info("%s", json.dumps({k: v for k, v in row.items() if k != "hyperparameters"}, ensure_ascii=False))
        runs = _record(args.out, [row], header)
        header["baselines"] = None  # recorded once
    ranking = _aggregate(runs)
    if ranking:
        logger.info("best: %s", json.dumps(ranking[0], ensure_ascii=False))
    return 0 if ranking else 1


if __name__ == "__main__":
    raise SystemExit(main())
