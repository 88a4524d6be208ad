"""The keras-text image's ``train``, ``serve`` and worker app (console scripts point here).

Each hook imports its module when called, so importing this module imports neither TensorFlow nor Keras: the
serve supervisor never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sm_contract.entrypoints import Image, Prepare, Trainer
from sm_contract.script_mode import Framework

if TYPE_CHECKING:  # the server's modules: in the workers, never in the supervisor
    from starlette.routing import BaseRoute

    from sm_contract.serving import Loader


def trainer() -> Trainer:
    """The built-in training job (TensorFlow, tf-keras)."""
    from keras_text.training.job import train

    return train


def loader() -> Loader:
    """Any TF Serving ``model.tar.gz``, our own model's included (TensorFlow, imported when a worker loads it)."""
    from keras_text.serving.app import load

    return load


def prepare() -> Prepare:
    """``code/requirements.txt`` installed once, as AWS's TF Serving container does (no server module imported)."""
    from keras_text.serving.prepare import prepare

    return prepare


def routes() -> Sequence[BaseRoute]:
    """TF Serving's REST API, next to /invocations."""
    from keras_text.serving.app import ROUTES

    return ROUTES


IMAGE = Image(
    trainer=trainer,
    loader=loader,
    app_factory="keras_text.image:IMAGE.app",
    framework=Framework(
        name="tensorflow",
        multi_host="per_host",  # every host runs the program; MultiWorkerMirroredStrategy joins them (TF_CONFIG)
        builtin_module="keras_text.training",
        model_dir_argument=True,  # AWS's TensorFlow containers give scripts --model_dir
    ),
    # Serving runs the SavedModel and never needs tf-keras: TensorFlow then skips importing it in every worker.
    serve_environment={"TF_USE_LEGACY_KERAS": "0"},
    serve_prepare=prepare,
    serve_rest_port=True,  # TF Serving's REST API on 8501, where handlers' context.rest_uri points
    routes=routes,
)
