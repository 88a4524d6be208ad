"""Console scripts ``train`` and ``serve`` (run as PID 1 by ``docker run IMAGE train|serve``)."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from sm_contract import serving
from sm_contract.training import run_training


def train() -> None:
    from keras_text.train import train as train_job

    sys.exit(run_training(train_job))


def app() -> Starlette:
    """The app factory each uvicorn worker calls."""
    from keras_text.predictor import TextHandler

    return serving.app_from_environ(TextHandler.load)


def serve() -> None:
    from keras_text.servable import lean_tensorflow

    lean_tensorflow()  # inherited by the worker processes: serving never imports tf-keras
    sys.exit(serving.serve("keras_text.entrypoints:app"))
