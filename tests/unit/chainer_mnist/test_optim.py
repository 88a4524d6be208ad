from __future__ import annotations

import chainer
import chainer.links as L
import numpy as np

from chainer_mnist.model import MLP
from chainer_mnist.training.optim import InPlaceAdam, make_optimizer


def _train(optimizer: chainer.Optimizer, steps: int = 5) -> list[np.ndarray]:
    np.random.seed(1)
    model = L.Classifier(MLP(32, 10))
    optimizer.setup(model)
    rng = np.random.default_rng(2)
    for _ in range(steps):
        x = rng.random((16, 784), dtype=np.float32)
        t = rng.integers(0, 10, 16).astype(np.int32)
        model.cleargrads()
        model(x, t).backward()
        optimizer.update()
    return [p.array.copy() for _, p in sorted(model.namedparams())]


def test_in_place_adam_matches_chainer_adam() -> None:
    reference = _train(chainer.optimizers.Adam(alpha=0.01))
    ours = _train(InPlaceAdam(alpha=0.01))
    for a, b in zip(reference, ours, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(reference, _train(chainer.optimizers.SGD()), strict=True))


def test_make_optimizer() -> None:
    assert isinstance(make_optimizer("adam", 0.1, 0.002), InPlaceAdam)
    assert make_optimizer("adam", 0.1, 0.002).alpha == 0.002
    sgd = make_optimizer("sgd", 0.05, 0.002)
    assert isinstance(sgd, chainer.optimizers.MomentumSGD) and sgd.lr == 0.05
