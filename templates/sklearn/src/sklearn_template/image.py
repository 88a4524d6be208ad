"""The sklearn-template image's ``train``, ``serve`` and worker app (console scripts point here).

Each hook imports its module when called, so importing this module imports neither scikit-learn nor NumPy: the
serve supervisor never does. Everything else (the /opt/ml contract, the HTTP server, script mode, several hosts)
is sm_contract's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sm_contract.entrypoints import Image, Trainer
from sm_contract.script_mode import Framework

if TYPE_CHECKING:  # the server's modules: in the workers, never in the supervisor
    from sm_contract.serving import Loader


def trainer() -> Trainer:
    """The built-in training job: a logistic regression of the train channel's CSV files."""
    from .training import train  # relative: the package's name is the image's

    return train


def loader() -> Loader:
    """The built-in model: ``model.npz`` (numbers only, never a pickle) and ``model.json``."""
    from .serving import Handler

    return Handler.load


IMAGE = Image(
    trainer=trainer,
    loader=loader,
    app_factory="sklearn_template.image:IMAGE.app",
    framework=Framework(
        name="sklearn",
        multi_host="per_host",  # every host runs the program; only the first writes the model
        builtin_module="sklearn_template.training",
    ),
)
