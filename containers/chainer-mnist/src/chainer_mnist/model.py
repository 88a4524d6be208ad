"""The networks: the tutorial's MLP (784-units-units-10, ReLU) and a small CNN, plus their description file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

from sm_contract.files import write_json

N_CLASSES = 10
IMAGE_SIDE = 28
ModelKind = Literal["mlp", "cnn"]


class MLP(chainer.Chain):
    """The tutorial's network: ``L.Classifier(MLP(1000, 10))``."""

    def __init__(self, n_units: int, n_out: int) -> None:
        super().__init__()
        with self.init_scope():
            self.l1 = L.Linear(None, n_units)
            self.l2 = L.Linear(None, n_units)
            self.l3 = L.Linear(None, n_out)

    def forward(self, x: chainer.Variable) -> chainer.Variable:
        h = F.relu(self.l1(x))
        h = F.relu(self.l2(h))
        return self.l3(h)


class CNN(chainer.Chain):
    """Two 5x5 conv + max-pool blocks and a hidden dense layer (reaches >= 99 % on MNIST)."""

    def __init__(self, n_units: int, n_out: int) -> None:
        super().__init__()
        with self.init_scope():
            self.conv1 = L.Convolution2D(1, 32, ksize=5, pad=2)
            self.conv2 = L.Convolution2D(32, 64, ksize=5, pad=2)
            self.fc = L.Linear(None, n_units)
            self.out = L.Linear(None, n_out)

    def forward(self, x: chainer.Variable) -> chainer.Variable:
        h = x.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        h = F.max_pooling_2d(F.relu(self.conv1(h)), 2)
        h = F.max_pooling_2d(F.relu(self.conv2(h)), 2)
        h = F.dropout(F.relu(self.fc(h)), ratio=0.5)
        return self.out(h)


@dataclass(frozen=True)
class ModelSpec:
    """What serving needs to rebuild the network; saved as ``model.json`` next to ``model.npz``."""

    model: ModelKind = "mlp"
    units: int = 1000
    n_out: int = N_CLASSES
    input_shape: tuple[int, ...] = (IMAGE_SIDE * IMAGE_SIDE,)
    framework: str = "chainer"
    framework_version: str = chainer.__version__

    def save(self, path: Path, **extra: object) -> None:
        write_json(path, {**asdict(self), **extra})

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            model=raw["model"],
            units=int(raw["units"]),
            n_out=int(raw.get("n_out", N_CLASSES)),
            input_shape=tuple(raw.get("input_shape", (IMAGE_SIDE * IMAGE_SIDE,))),
        )


def build(spec: ModelSpec) -> L.Classifier:
    """A classifier whose parameters are all initialised (so ``load_npz`` can fill them)."""
    predictor = MLP(spec.units, spec.n_out) if spec.model == "mlp" else CNN(spec.units, spec.n_out)
    classifier = L.Classifier(predictor)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        predictor(np.zeros((1, IMAGE_SIDE * IMAGE_SIDE), dtype=np.float32))
    return classifier


def predict_proba(classifier: L.Classifier, images: np.ndarray) -> np.ndarray:
    """Class probabilities for float32 images of shape (N, 784), inference mode, no graph."""
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        logits = classifier.predictor(images)
        return F.softmax(logits).array
