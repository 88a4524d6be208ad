"""Training throughput and accuracy: our loop against Chainer's conventional Trainer, same MLP, same data.

The conventional loop is the tutorial's: ``training.Trainer`` + ``StandardUpdater`` + ``SerialIterator`` over a
``TupleDataset``, with an ``Evaluator`` on the validation set and a ``LogReport`` every epoch. Ours is
``chainer_mnist.training.loop.Trainer`` (index-sliced batches, in-place Adam, per-epoch checkpoints and metrics). Both
start from the same initial weights, see the same data, and evaluate with the same batch size (``EVAL_BATCH``:
the conventional ``Evaluator`` is given it too, so neither side's epoch time includes a slower evaluation);
accuracy is on all 10,000 MNIST test images.

    python bench/chainer_training.py --data data/mnist [--epochs 20] [--cnn-epochs 3]
"""

from __future__ import annotations

import argparse
import json
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
from chainer_mnist.training.hyperparameters import Hyperparameters
from chainer_mnist.training.loop import EVAL_BATCH, LoopSettings, Trainer, evaluate
from harness import results
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.training import StopSignal

DEFAULT_EPOCHS, DEFAULT_CNN_EPOCHS = 20, 3


def conventional(hp: Hyperparameters, train: Split, valid: Split, out: Path) -> tuple[chainer.Chain, float]:
    np.random.seed(hp.seed)
    classifier = model_lib.build(model_lib.ModelSpec(model=hp.model, units=hp.units))
    optimizer = chainer.optimizers.Adam(alpha=hp.alpha)
    optimizer.setup(classifier)
    train_set = chainer.datasets.TupleDataset(train.images, train.labels)
    valid_set = chainer.datasets.TupleDataset(valid.images, valid.labels)
    train_iter = chainer.iterators.SerialIterator(train_set, hp.batch_size)
    valid_iter = chainer.iterators.SerialIterator(valid_set, EVAL_BATCH, repeat=False, shuffle=False)
    updater = training.updaters.StandardUpdater(train_iter, optimizer)
    trainer = training.Trainer(updater, (hp.epochs, "epoch"), out=str(out))
    trainer.extend(extensions.Evaluator(valid_iter, classifier))
    trainer.extend(extensions.LogReport())
    started = time.perf_counter()
    trainer.run()
    return classifier, time.perf_counter() - started


def ours(hp: Hyperparameters, train: Split, valid: Split, root: Path) -> tuple[chainer.Chain, float]:
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    settings = LoopSettings(hp.epochs, hp.batch_size, hp.seed, hp.optimizer, hp.learning_rate, hp.alpha)
    spec = model_lib.ModelSpec(model=hp.model, units=hp.units)
    trainer = Trainer(env, settings, spec, (train, valid), CheckpointStore(root / "checkpoints"))
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
        "eval_batch_size": EVAL_BATCH,
        "seconds": round(seconds, 2),
        "images_per_sec": round(len(train) * hp.epochs / seconds, 1),
        "test_accuracy": round(accuracy, 4),
    }
    print(json.dumps(result), flush=True)
    return result


def training_targets(payload: dict[str, Any]) -> list[results.Target]:
    """The speed-up, and the accuracies, which are targets for the default epochs only (20 MLP, 3 CNN)."""
    conventional_result, ours_result = payload["mlp"]
    epochs = ours_result["epochs"]
    note = f"{ours_result['images_per_sec']} vs {conventional_result['images_per_sec']} images/s, {epochs} epochs"
    name = "chainer-mnist training, our loop / Trainer + SerialIterator"
    targets = [results.Target(name, payload["speedup"], ">=", 1.5, "x", note)]
    accuracy = ours_result["test_accuracy"] if epochs == DEFAULT_EPOCHS else None
    note = "" if accuracy is not None else f"run with {epochs} epochs: {ours_result['test_accuracy']}"
    targets.append(
        results.Target(f"chainer-mnist MLP test accuracy, {DEFAULT_EPOCHS} epochs", accuracy, ">=", 0.98, "", note)
    )
    if "cnn" in payload:
        cnn = payload["cnn"]
        value = cnn["test_accuracy"] if cnn["epochs"] == DEFAULT_CNN_EPOCHS else None
        name = f"chainer-mnist CNN test accuracy, {DEFAULT_CNN_EPOCHS} epochs"
        targets.append(results.Target(name, value, ">=", 0.99, "", f"run with {cnn['epochs']} epochs"))
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--cnn-epochs", type=int, default=DEFAULT_CNN_EPOCHS)
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "chainer_training.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)

    train = load_split(args.data / "train/train.npz", "train")
    valid = load_split(args.data / "valid/valid.npz", "valid")
    tail = load_split(args.data / "test/test.npz", "test")
    test = Split(np.concatenate([valid.images, tail.images]), np.concatenate([valid.labels, tail.labels]))

    run_info = results.Run("chainer_training", args.allow_noisy)
    mlp = Hyperparameters(epochs=args.epochs)
    conventional_result = run("conventional Trainer + SerialIterator", conventional, mlp, train, valid, test)
    ours_result = run("chainer_mnist.training.loop.Trainer", ours, mlp, train, valid, test)
    payload: dict[str, Any] = {
        "versions": {"chainer": chainer.__version__, "numpy": np.__version__},
        "mlp": [conventional_result, ours_result],
        "speedup": round(ours_result["images_per_sec"] / conventional_result["images_per_sec"], 3),
    }
    if args.cnn_epochs > 0:
        cnn = Hyperparameters(model="cnn", units=1000, epochs=args.cnn_epochs)
        payload["cnn"] = run("chainer_mnist.training.loop.Trainer", ours, cnn, train, valid, test)
    results.write(run_info.record(payload, training_targets(payload)), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
