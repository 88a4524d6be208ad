"""Console scripts ``train`` and ``serve`` (run as PID 1 by ``docker run IMAGE train|serve``)."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from chainer_mnist.predictor import MnistHandler
from sm_contract import serving
from sm_contract.training import run_training


def train() -> None:
    from chainer_mnist.train import train as train_job

    sys.exit(run_training(train_job))


def app() -> Starlette:
    """The app factory each uvicorn worker calls."""
    return serving.app_from_environ(MnistHandler.load)


def serve() -> None:
    sys.exit(serving.serve("chainer_mnist.entrypoints:app"))
