"""The chainer-mnist image's ``train``, ``serve`` and worker app (console scripts point here).

Each hook imports its module when called, so importing this module does not import Chainer: the serve
supervisor never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sm_contract.entrypoints import Image, ServingFunctions, Trainer
from sm_contract.script_mode import Framework

if TYPE_CHECKING:  # the server's modules: in the workers, never in the supervisor
    from sm_contract.serving import Loader


def trainer() -> Trainer:
    """The built-in training job (Chainer, ChainerMN on several hosts)."""
    from chainer_mnist.training.job import train

    return train


def loader() -> Loader:
    """The built-in model: ``model.npz`` and ``model.json``."""
    from chainer_mnist.serving.handler import MnistHandler

    return MnistHandler.load


def serving_defaults() -> ServingFunctions:
    """Chainer's default ``predict_fn`` for a user's module, as AWS's Chainer container had."""
    from chainer_mnist.serving.framework import default_predict_fn

    return {"predict_fn": default_predict_fn}


IMAGE = Image(
    trainer=trainer,
    loader=loader,
    app_factory="chainer_mnist.image:IMAGE.app",
    framework=Framework(
        name="chainer",
        multi_host="mpi",  # several hosts run one MPI job (ChainerMN), as AWS's Chainer container did
        builtin_module="chainer_mnist.training",
    ),
    serving_defaults=serving_defaults,
)
