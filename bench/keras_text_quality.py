"""Quality of the keras-text default model on the KNB test split, seeds 0, 1 and 2, next to two baselines.

Trains the image's job in process (host venv .venv/keras-text, the chiVe table from `make chive`) on
datasets/knbc/train once per seed and scores it on datasets/knbc/test. The same run computes, on the same split,
the character 1-3-gram TF-IDF + logistic regression baseline (scikit-learn defaults, max_iter=1000, as in
datasets/knbc/PROVENANCE.md) and the mean chiVe vector of a text's words + logistic regression (C=1): nothing
is copied from earlier runs. The baselines need scikit-learn (bench/keras_text_requirements.txt, installed by
`make bench/quality`). bench/keras_text_tuning.py compares hyperparameters on a split of train instead.

    .venv/keras-text/bin/python bench/keras_text_quality.py [--seeds 0 1 2] [--hp hidden=64 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import results
from keras_text.artifact.text_pipeline import UNK_ID, encode
from keras_text.backend import keras
from keras_text.text import tokenizers, vectors
from keras_text.training import data, evaluation
from keras_text.training.job import VECTORS_ENV, train
from sm_contract.training import run_training

REPO = Path(__file__).resolve().parent.parent
MEAN_ACCURACY, MIN_ACCURACY, STRETCH_MEAN_ACCURACY, TRAINING_SECONDS = 0.80, 0.78, 0.83, 180
MAX_WORDS = 200  # words per text for the mean-vector baseline (KNBC's longest has 134)

logger = logging.getLogger("bench.keras_text_quality")


def _read(split: Path) -> tuple[list[str], list[str]]:
    texts = data.read_column(split / data.FEATURES_FILE, data.FEATURE_COLUMN, str(split))
    return texts, data.read_column(split / data.LABELS_FILE, data.LABEL_COLUMN, str(split))


def _opt_ml(root: Path, corpus: Path, hps: dict[str, str]) -> None:
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))
    for channel in ("train", "test"):
        folder = root / "input/data" / channel
        folder.mkdir(parents=True)
        for name in (data.FEATURES_FILE, data.LABELS_FILE):
            (folder / name).write_bytes((corpus / channel / name).read_bytes())
    channels = {c: {"TrainingInputMode": "File"} for c in ("train", "test")}
    (root / "input/config/inputdataconfig.json").write_text(json.dumps(channels))


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    per_label = {k: {m: round(v[m], 4) for m in ("precision", "recall", "f1")} for k, v in report["per_label"].items()}
    return {"accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4), "per_label": per_label}


def _train_once(corpus: Path, table: Path, hps: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="keras_text_quality_") as tmp:
        root = Path(tmp)
        _opt_ml(root, corpus, hps)
        started = time.perf_counter()
        code = run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(table)})
        seconds = time.perf_counter() - started
        keras.backend.clear_session()
        if code != 0:
            raise RuntimeError(f"training failed (exit {code}): {(root / 'output/failure').read_text()}")
        test = json.loads((root / "output/data/test_metrics.json").read_text(encoding="utf-8"))
        history = json.loads((root / "output/data/history.json").read_text(encoding="utf-8"))
        meta = json.loads((root / "model/code/labels.json").read_text(encoding="utf-8"))
    return {
        "seed": meta["hyperparameters"]["seed"],
        **_scores(test),
        "epochs_run": len(history),
        "best_val_accuracy": round(max(row.get("val_accuracy", 0.0) for row in history), 4),
        "training_seconds": round(seconds, 1),
        "hyperparameters": meta["hyperparameters"],
    }


Split = tuple[list[str], list[str]]  # texts, labels


def baselines(fit: Split, score: Split, table_dir: Path) -> dict[str, Any]:
    """Both baselines trained on ``fit`` and scored on ``score`` (also used by bench/keras_text_tuning.py)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    (x_train, l_train), (x_test, l_test) = fit, score
    labels = data.label_index(l_train)
    y_train, y_test = data.encode_labels(l_train, labels, "train"), data.encode_labels(l_test, labels, "test")

    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    char_model = LogisticRegression(max_iter=1000).fit(tfidf.fit_transform(x_train), y_train)
    char_pred = char_model.predict(tfidf.transform(x_test))

    words = tokenizers.pretrained_words(vectors.load(table_dir), ("normalized",))

    def mean_vectors(texts: list[str]) -> np.ndarray:
        ids = encode(words.encoder, texts, MAX_WORDS)
        known = (ids > UNK_ID)[..., None]  # neither padding nor unknown words
        return (words.embeddings[ids] * known).sum(axis=1) / np.maximum(known.sum(axis=1), 1)

    chive_model = LogisticRegression(C=1.0, max_iter=1000).fit(mean_vectors(x_train), y_train)
    chive_pred = chive_model.predict(mean_vectors(x_test))
    return {
        "char_tfidf_logreg": {
            "name": "character 1-3-gram TF-IDF + logistic regression (scikit-learn defaults, max_iter=1000)",
            **_scores(evaluation.report(y_test, char_pred, labels)),
        },
        "mean_chive_logreg": {
            "name": "mean chiVe vector of the Sudachi words (normalized forms) + logistic regression (C=1)",
            **_scores(evaluation.report(y_test, chive_pred, labels)),
        },
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    accuracies = [r["accuracy"] for r in runs]
    labels = runs[0]["per_label"]
    mean_f1 = {k: round(statistics.mean(r["per_label"][k]["f1"] for r in runs), 4) for k in labels}
    return {
        "mean_accuracy": round(statistics.mean(accuracies), 4),
        "min_accuracy": min(accuracies),
        "max_accuracy": max(accuracies),
        "mean_macro_f1": round(statistics.mean(r["macro_f1"] for r in runs), 4),
        "mean_f1_per_label": mean_f1,
        "slowest_training_seconds": max(r["training_seconds"] for r in runs),
    }


def _targets(summary: dict[str, Any], reference: dict[str, Any], seeds: list[int]) -> list[results.Target]:
    baselines_note = ", ".join(f"{k} {v['accuracy']}" for k, v in reference.items())
    seeds_note = f"seeds {' '.join(map(str, seeds))}; baselines: {baselines_note}"
    name = "keras-text test accuracy"
    return [
        results.Target(f"{name}, mean", summary["mean_accuracy"], ">=", MEAN_ACCURACY, "", seeds_note),
        results.Target(f"{name}, lowest seed", summary["min_accuracy"], ">=", MIN_ACCURACY, "", ""),
        results.Target(f"{name}, mean (stretch)", summary["mean_accuracy"], ">=", STRETCH_MEAN_ACCURACY, "", ""),
        results.Target(
            "keras-text training on the full train split (in process, host)",
            summary["slowest_training_seconds"],
            "<=",
            TRAINING_SECONDS,
            "s",
            "the slowest seed",
        ),
    ]


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "datasets/knbc")
    parser.add_argument("--vectors", type=Path, default=REPO / "data/chive", help="the chiVe table (make chive)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_quality.json")
    results.add_noise_argument(parser)
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.hp)
    run = results.Run("keras_text_quality", args.allow_noisy)
    reference = baselines(_read(args.data / "train"), _read(args.data / "test"), args.vectors)
    logger.info("baselines: %s", {k: (v["accuracy"], v["macro_f1"]) for k, v in reference.items()})
    runs = []
    for seed in args.seeds:
        runs.append(_train_once(args.data, args.vectors, {**overrides, "seed": str(seed)}))
        run.sample_load()
        logger.info("seed %d: accuracy %.4f macro-F1 %.4f", seed, runs[-1]["accuracy"], runs[-1]["macro_f1"])
    summary = _summary(runs)
    payload = {
        "dataset": "KNBC v1.0 fixed split (train 3,767 / test 419)",
        "overrides": overrides,
        "summary": summary,
        "runs": runs,
        "baselines": reference,
    }
    results.write(run.record(payload, _targets(summary, reference, args.seeds)), args.out)
    logger.info("%s", json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
