"""An image's ``train`` and ``serve`` console scripts, built from the few names the image supplies.

Each image's ``image.py`` declares ``IMAGE = Image(...)`` with import strings of its built-in trainer, its model
loader and its app factory, and exports ``IMAGE.train``, ``IMAGE.serve`` and ``IMAGE.app``; its
``pyproject.toml`` points the console scripts there. Heavy frameworks are imported only where they run:
``serve``'s supervisor never imports the model code, its workers do.
"""

from __future__ import annotations

import os
import pkgutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from sm_contract import server
from sm_contract.training import run_training


def resolve(name: str) -> Any:
    """``"package.module:attribute.attribute"`` -> the object (the form console scripts use too)."""
    return pkgutil.resolve_name(name)


@dataclass(frozen=True)
class Image:
    """What an image plugs into the contract (import strings, resolved only when needed)."""

    trainer: str  # (TrainingEnv, StopSignal) -> None: the built-in training job
    loader: str  # (ServingEnv) -> ModelHandler: the built-in model
    app_factory: str  # this image's ``app`` attribute, which every uvicorn worker calls
    # Environment set for ``serve`` before any worker starts (e.g. switches read when a framework is imported).
    serve_environment: Mapping[str, str] = field(default_factory=dict)

    def train(self) -> None:
        sys.exit(run_training(resolve(self.trainer)))

    def app(self) -> Starlette:
        return server.app_from_environ(resolve(self.loader))

    def serve(self) -> None:
        os.environ.update(self.serve_environment)
        sys.exit(server.serve(self.app_factory))
