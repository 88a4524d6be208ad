"""Quality of the keras-text model: full training on datasets/knbc/train, scored on datasets/knbc/test.

Runs the image's training job in process (host venv .venv/keras-text) and compares accuracy and macro-F1
with the TF-IDF + logistic-regression baseline of datasets/knbc/PROVENANCE.md. Defaults were chosen on the
validation split, never on test.

    .venv/keras-text/bin/python bench/keras_text_quality.py [--hp epochs=30 --hp hidden=64 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

from keras_text.train import train
from sm_contract.training import run_training

REPO = Path(__file__).resolve().parent.parent
BASELINE = {"name": "char 1-3-gram TF-IDF + logistic regression", "accuracy": 0.7232, "macro_f1": 0.6765}

logger = logging.getLogger("bench.keras_text_quality")


def _opt_ml(root: Path, data: Path, hps: dict[str, str]) -> None:
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))
    channels = {}
    for channel in ("train", "test"):
        folder = root / "input/data" / channel
        folder.mkdir(parents=True)
        for name in ("features.csv", "labels.csv"):
            (folder / name).write_bytes((data / channel / name).read_bytes())
        channels[channel] = {"TrainingInputMode": "File"}
    (root / "input/config/inputdataconfig.json").write_text(json.dumps(channels))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "datasets/knbc")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_quality.json")
    args = parser.parse_args()
    hps = dict(item.split("=", 1) for item in args.hp)
    with tempfile.TemporaryDirectory(prefix="keras_text_quality_") as tmp:
        root = Path(tmp)
        _opt_ml(root, args.data, hps)
        started = time.perf_counter()
        code = run_training(train, {"SAGEMAKER_BASE_DIR": str(root)})
        seconds = time.perf_counter() - started
        if code != 0:
            logger.error("training failed (exit %d): %s", code, (root / "output/failure").read_text())
            return code
        test = json.loads((root / "output/data/test_metrics.json").read_text(encoding="utf-8"))
        history = json.loads((root / "output/data/history.json").read_text(encoding="utf-8"))
        meta = json.loads((root / "model/code/labels.json").read_text(encoding="utf-8"))
    result = {
        "dataset": "KNBC v1.0 fixed split (train 3,767 / test 419)",
        "hyperparameters": meta["hyperparameters"],
        "epochs_run": len(history),
        "best_val_accuracy": max((row.get("val_accuracy", 0.0) for row in history), default=None),
        "test_accuracy": round(test["accuracy"], 4),
        "test_macro_f1": round(test["macro_f1"], 4),
        "baseline": BASELINE,
        "beats_baseline": test["accuracy"] > BASELINE["accuracy"] and test["macro_f1"] > BASELINE["macro_f1"],
        "per_label": test["per_label"],
        "training_seconds": round(seconds, 1),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "accuracy %.4f macro-F1 %.4f (baseline %.4f / %.4f) -> %s",
        result["test_accuracy"],
        result["test_macro_f1"],
        BASELINE["accuracy"],
        BASELINE["macro_f1"],
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
