"""Training throughput and accuracy: our loop against Chainer's conventional Trainer, same MLP, same data.

The conventional loop is the tutorial's: ``training.Trainer`` + ``StandardUpdater`` + ``SerialIterator`` over a
``TupleDataset``, with an ``Evaluator`` on the validation set and a ``LogReport`` every epoch. Ours is
``chainer_mnist.train.Trainer`` (index-sliced batches, in-place Adam, per-epoch checkpoints and metrics). Both
start from the same initial weights and see the same data; accuracy is on all 10,000 MNIST test images.

    python bench/chainer_training.py --data data/mnist [--epochs 20] [--cnn-epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chainer
import numpy as np
from chainer import training
from chainer.training import extensions

from chainer_mnist import model as model_lib
from chainer_mnist.data import Split, load_split
from chainer_mnist.train import Hyperparameters, Trainer, evaluate
from sm_contract.environment import TrainingEnv
from sm_contract.training import StopSignal


def conventional(hp: Hyperparameters, train: Split, valid: Split, out: Path) -> tuple[chainer.Chain, float]:
    np.random.seed(hp.seed)
    classifier = model_lib.build(model_lib.ModelSpec(model=hp.model, units=hp.units))
    optimizer = chainer.optimizers.Adam(alpha=hp.alpha)
    optimizer.setup(classifier)
    train_set = chainer.datasets.TupleDataset(train.images, train.labels)
    valid_set = chainer.datasets.TupleDataset(valid.images, valid.labels)
    train_iter = chainer.iterators.SerialIterator(train_set, hp.batch_size)
    valid_iter = chainer.iterators.SerialIterator(valid_set, hp.batch_size, repeat=False, shuffle=False)
    updater = training.updaters.StandardUpdater(train_iter, optimizer)
    trainer = training.Trainer(updater, (hp.epochs, "epoch"), out=str(out))
    trainer.extend(extensions.Evaluator(valid_iter, classifier))
    trainer.extend(extensions.LogReport())
    started = time.perf_counter()
    trainer.run()
    return classifier, time.perf_counter() - started


def ours(hp: Hyperparameters, train: Split, valid: Split, root: Path) -> tuple[chainer.Chain, float]:
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    trainer = Trainer(env, hp, train, valid)
    started = time.perf_counter()
    trainer.fit(StopSignal())
    return trainer.classifier, time.perf_counter() - started


def run(name: str, fn: Any, hp: Hyperparameters, train: Split, valid: Split, test: Split) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        classifier, seconds = fn(hp, train, valid, Path(tmp))
    _, accuracy = evaluate(classifier, test)
    result = {
        "loop": name,
        "model": hp.model,
        "epochs": hp.epochs,
        "batch_size": hp.batch_size,
        "seconds": round(seconds, 2),
        "images_per_sec": round(len(train) * hp.epochs / seconds, 1),
        "test_accuracy": round(accuracy, 4),
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cnn-epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/chainer_training.json"))
    args = parser.parse_args(argv)

    train = load_split(args.data / "train/train.npz", "train")
    valid = load_split(args.data / "valid/valid.npz", "valid")
    tail = load_split(args.data / "test/test.npz", "test")
    test = Split(np.concatenate([valid.images, tail.images]), np.concatenate([valid.labels, tail.labels]))

    mlp = Hyperparameters(epochs=args.epochs)
    conventional_result = run("conventional Trainer + SerialIterator", conventional, mlp, train, valid, test)
    ours_result = run("chainer_mnist.train.Trainer", ours, mlp, train, valid, test)
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "chainer": chainer.__version__,
            "numpy": np.__version__,
        },
        "mlp": [conventional_result, ours_result],
        "speedup": round(ours_result["images_per_sec"] / conventional_result["images_per_sec"], 3),
    }
    if args.cnn_epochs > 0:
        results["cnn"] = run(
            "chainer_mnist.train.Trainer",
            ours,
            Hyperparameters(model="cnn", units=1000, epochs=args.cnn_epochs),
            train,
            valid,
            test,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"speedup": results["speedup"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
