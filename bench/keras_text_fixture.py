"""keras-text's test model: is the small model every keras test trains right on the obvious sentences, for any seed?

The tests' fixture (tests/utils/keras_model.py: a slice of KNB, small hyperparameters) is trained in process for
each of --seeds, then served in process by the image's own loader, and asked the obvious sentences: each must come
out with its theme on top. Per seed: every sentence's top label and probability, the smallest margin (probability
of the right label minus the best wrong one), the test accuracy and the training time; --hp and --rows try
variants of the fixture.

    .venv/keras-text/bin/python bench/keras_text_fixture.py --vectors data/chive --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from harness import results
from keras_text.backend import keras
from keras_text.image import IMAGE
from keras_text.training.job import VECTORS_ENV, train
from sm_contract.environment import ServingEnv
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from sm_contract.training import run_training

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
# The tests' own definition of the model, so that the bench measures what the tests train.
from utils import keras_model  # noqa: E402
from utils.data import knbc_slice, write_opt_ml  # noqa: E402

MIN_MARGIN = 0.2  # every sentence's right label ahead of the best wrong one by at least this, for every seed

logger = logging.getLogger("bench.keras_text_fixture")


def _answers(root: Path) -> list[list[dict[str, Any]]]:
    env = ServingEnv(paths=MLPaths(root))
    with TestClient(create_app(IMAGE.loader(), env, routes=IMAGE.routes() if IMAGE.routes else ())) as client:
        response = client.post("/invocations", json={"q": list(keras_model.OBVIOUS)})
    response.raise_for_status()
    answers: list[list[dict[str, Any]]] = response.json()
    return answers


def _one_seed(table: Path, hps: dict[str, str], rows: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="keras_text_fixture_") as tmp:
        channels = {"train": knbc_slice("train", rows), "test": knbc_slice("test", keras_model.TEST_ROWS)}
        root = write_opt_ml(Path(tmp), {**hps, "seed": str(seed)}, channels)
        started = time.perf_counter()
        code = run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(table)})
        seconds = time.perf_counter() - started
        keras.backend.clear_session()
        if code != 0:
            raise RuntimeError(f"training failed (exit {code}): {(root / 'output/failure').read_text()}")
        accuracy = json.loads((root / "output/data/test_metrics.json").read_text(encoding="utf-8"))["accuracy"]
        answers = _answers(root)
    sentences = {}
    for (text, expected), answer in zip(keras_model.OBVIOUS.items(), answers, strict=True):
        probs = {item["label"]: item["prob"] for item in answer}
        margin = probs[expected] - max(p for label, p in probs.items() if label != expected)
        sentences[text] = {"top": answer[0]["label"], "prob": answer[0]["prob"], "margin": round(margin, 4)}
    return {
        "seed": seed,
        "right": sum(s["top"] == keras_model.OBVIOUS[text] for text, s in sentences.items()),
        "min_margin": round(min(s["margin"] for s in sentences.values()), 4),
        "test_accuracy": round(accuracy, 4),
        "training_seconds": round(seconds, 1),
        "sentences": sentences,
    }


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=REPO / "data/chive", help="the chiVe table (make chive)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rows", type=int, default=keras_model.TRAIN_ROWS, help="rows of train")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/keras_text_fixture.json")
    results.add_noise_argument(parser)
    args = parser.parse_args()
    hps = {**keras_model.HYPERPARAMETERS, **dict(item.split("=", 1) for item in args.hp)}
    run = results.Run("keras_text_fixture", args.allow_noisy)
    runs = []
    for seed in args.seeds:
        runs.append(_one_seed(args.vectors, hps, args.rows, seed))
        run.sample_load()
        logger.info("seed %d: %s", seed, json.dumps({k: v for k, v in runs[-1].items() if k != "sentences"}))
    n = len(keras_model.OBVIOUS)
    all_right = sum(r["right"] == n for r in runs)
    min_margin = min(r["min_margin"] for r in runs)
    slowest = max(r["training_seconds"] for r in runs)
    targets = [
        results.Target("keras-text test model: seeds right on every obvious sentence", all_right, ">=", len(runs)),
        results.Target("keras-text test model: smallest margin over seeds", min_margin, ">=", MIN_MARGIN),
    ]
    payload = {
        "fixture": {"train_rows": args.rows, "test_rows": keras_model.TEST_ROWS, "hyperparameters": hps},
        "summary": {"seeds": args.seeds, "all_right": all_right, "min_margin": min_margin, "slowest_s": slowest},
        "runs": runs,
    }
    results.write(run.record(payload, targets), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
