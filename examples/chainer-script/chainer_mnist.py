"""An MNIST training script for the chainer-mnist image's script mode.

Written the way the Step Functions tutorial writes its own script: ChainerMN for several hosts (one MPI process
each, started by the image's mpirun), a Chainer Trainer with log and plot reports, the SageMaker folders from the
``SM_*`` environment, and ``model_fn`` / ``input_fn`` / ``output_fn`` for the endpoint and the batch transform.

    python chainer_mnist.py --epochs 3 --units 1000      # inside the image: hyperparameters arrive as arguments
"""

from __future__ import annotations

import argparse
import io
import json
import os

import chainer
import chainer.functions as F
import chainer.links as L
import chainermn
import numpy as np
from chainer import serializers, training
from chainer.training import extensions

PIXELS = 28 * 28
SETTINGS_FILE = "net.json"


class Net(chainer.Chain):
    """784 -> units -> units -> 10, ReLU."""

    def __init__(self, units: int, n_out: int = 10) -> None:
        super().__init__()
        with self.init_scope():
            self.hidden1 = L.Linear(None, units)
            self.hidden2 = L.Linear(None, units)
            self.output = L.Linear(None, n_out)

    def forward(self, x):
        return self.output(F.relu(self.hidden2(F.relu(self.hidden1(x)))))


def as_pixels(images: np.ndarray) -> np.ndarray:
    """(N, 784) float32 in [0, 1] from uint8 pixels or floats, whatever their image shape."""
    images = np.asarray(images)
    flat = images.reshape(len(images), PIXELS) if images.ndim > 1 else images.reshape(1, PIXELS)
    if np.issubdtype(flat.dtype, np.integer):
        return flat.astype(np.float32) / 255.0
    return flat.astype(np.float32)


def read_split(folder: str) -> chainer.datasets.TupleDataset:
    """The ``.npz`` file of a channel folder (arrays ``images`` and ``labels``)."""
    name = next(f for f in sorted(os.listdir(folder)) if f.endswith(".npz"))
    with np.load(os.path.join(folder, name)) as data:
        return chainer.datasets.TupleDataset(as_pixels(data["images"]), data["labels"].astype(np.int32))


def parse_args() -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--communicator", default="pure_nccl" if int(env.get("SM_NUM_GPUS", 0)) > 0 else "naive")
    parser.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--output-data-dir", default=env.get("SM_OUTPUT_DATA_DIR", "output"))
    parser.add_argument("--train", default=env.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", default=env.get("SM_CHANNEL_TEST") or env.get("SM_CHANNEL_VALID"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    comm = chainermn.create_communicator(args.communicator)
    if comm.rank == 0:
        host, hosts = os.environ.get("SM_CURRENT_HOST"), os.environ.get("SM_HOSTS")
        print(f"{comm.size} process(es) on host {host}; hosts {hosts}")

    model = L.Classifier(Net(args.units))
    optimizer = chainermn.create_multi_node_optimizer(chainer.optimizers.Adam(), comm)
    optimizer.setup(model)

    # Rank 0 reads the data and hands every process its share.
    train = read_split(args.train) if comm.rank == 0 else None
    test = read_split(args.test) if comm.rank == 0 else None
    train = chainermn.scatter_dataset(train, comm, shuffle=True)
    test = chainermn.scatter_dataset(test, comm)

    train_iter = chainer.iterators.SerialIterator(train, args.batch_size)
    test_iter = chainer.iterators.SerialIterator(test, args.batch_size, repeat=False, shuffle=False)
    updater = training.StandardUpdater(train_iter, optimizer)
    trainer = training.Trainer(updater, (args.epochs, "epoch"), out=args.output_data_dir)
    trainer.extend(chainermn.create_multi_node_evaluator(extensions.Evaluator(test_iter, model), comm))
    if comm.rank == 0:
        trainer.extend(extensions.LogReport())
        trainer.extend(
            extensions.PrintReport(
                [
                    "epoch",
                    "main/loss",
                    "validation/main/loss",
                    "main/accuracy",
                    "validation/main/accuracy",
                    "elapsed_time",
                ]
            )
        )
        trainer.extend(extensions.PlotReport(["main/loss", "validation/main/loss"], "epoch", filename="loss.png"))
        trainer.extend(
            extensions.PlotReport(["main/accuracy", "validation/main/accuracy"], "epoch", filename="accuracy.png")
        )
    trainer.run()

    if comm.rank == 0:
        os.makedirs(args.model_dir, exist_ok=True)
        serializers.save_npz(os.path.join(args.model_dir, "model.npz"), model.predictor)
        with open(os.path.join(args.model_dir, SETTINGS_FILE), "w") as handle:
            json.dump({"units": args.units}, handle)


# ---- serving (the image's server calls these) ---------------------------------------------------------------------
def model_fn(model_dir: str) -> Net:
    with open(os.path.join(model_dir, SETTINGS_FILE)) as handle:
        net = Net(json.load(handle)["units"])
    serializers.load_npz(os.path.join(model_dir, "model.npz"), net)
    return net


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """``.npy`` images (the batch transform of test.npy) or JSON ``{"instances": [...]}`` / nested lists."""
    if content_type == "application/x-npy":
        return as_pixels(np.load(io.BytesIO(body), allow_pickle=False))
    if content_type == "application/json":
        value = json.loads(body)
        return as_pixels(np.asarray(value["instances"] if isinstance(value, dict) else value))
    raise ValueError(f"content type {content_type} is not supported; send application/x-npy or application/json")


def output_fn(prediction: np.ndarray, accept: str) -> tuple[str, str]:
    """Labels, one per line, for CSV (what the batch transform writes); probabilities as JSON otherwise."""
    probabilities = F.softmax(prediction).array
    if accept == "text/csv":
        return "".join(f"{label}\n" for label in probabilities.argmax(axis=1)), "text/csv"
    return json.dumps({"predictions": probabilities.round(6).tolist()}), "application/json"


if __name__ == "__main__":
    main()
