"""An image's ``train`` and ``serve`` console scripts, built from the few names the image supplies.

Each image's ``image.py`` declares ``IMAGE = Image(...)`` with import strings of its built-in trainer, its model
loader and its app factory, and exports ``IMAGE.train``, ``IMAGE.serve`` and ``IMAGE.app``; its
``pyproject.toml`` points the console scripts there. Heavy frameworks are imported only where they run:
``serve``'s supervisor never imports the model code, its workers do.
"""

from __future__ import annotations

import functools
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sm_contract import log_config, server
from sm_contract.environment import SUBMIT_DIR_PARAM, ServingEnv, TrainingEnv, multi_model_settings
from sm_contract.errors import ContractError, ModelLoadError
from sm_contract.script_mode import Framework, run_builtin, run_user_script
from sm_contract.training import StopSignal, run_training

if TYPE_CHECKING:
    from starlette.applications import Starlette

logger = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit code when a worker cannot load its app


def resolve(name: str) -> Any:
    """``"package.module:attribute.attribute"`` -> the object (the form console scripts use too)."""
    return pkgutil.resolve_name(name)


@dataclass(frozen=True)
class Image:
    """What an image plugs into the contract (import strings, resolved only when needed)."""

    trainer: str  # (TrainingEnv, StopSignal) -> None: the built-in training job
    loader: str  # (ServingEnv) -> ModelHandler: the built-in model
    app_factory: str  # this image's ``app`` attribute, which every uvicorn worker calls
    framework: Framework  # script mode and multi-host training
    # Environment set for ``serve`` before any worker starts (e.g. switches read when a framework is imported).
    serve_environment: Mapping[str, str] = field(default_factory=dict)
    # (ServingEnv) -> None, run once before the workers start (e.g. a model's requirements.txt); may raise
    # ContractError to stop the container with one line.
    serve_prepare: str | None = None
    serve_rest_port: bool = False  # also listen on ServingEnv.rest_port (a model server's own API)
    routes: str | None = None  # a sequence of extra Starlette routes of the built-in model's app

    def train(self) -> None:
        sys.exit(run_training(self.training_job))

    def training_job(self, env: TrainingEnv, stop: StopSignal) -> int | None:
        """The user's script when the job names one, else the built-in trainer (launched on every host)."""
        if env.script is not None:
            return run_user_script(env, stop, self.framework)
        if len(env.hosts) > 1:
            return run_builtin(env, stop, self.framework)
        trainer = resolve(self.trainer)
        log_config.configure(env.log_level)  # importing a framework may lower the root level (numpy.distutils)
        trainer(env, stop)
        return None

    def app(self) -> Starlette:
        """The app of one uvicorn worker: the user's module when the model names one, else the built-in model;
        with ``SAGEMAKER_MULTI_MODEL=true`` either one per model of the /models API (the image's routes serve a
        single model, so they are left out)."""
        from sm_contract import multi_model  # the app's modules: in the workers, never in the supervisor

        if ServingEnv.from_environ().script is not None:
            from sm_contract.script_mode import user_module  # NumPy and the codecs: only for a user's module

            user_loader = functools.partial(user_module.UserModuleHandler.load, defaults=self.defaults())
            if multi_model.enabled():
                return multi_model.app_from_environ(user_loader)
            return server.app_from_environ(user_loader)
        if multi_model.enabled():
            return multi_model.app_from_environ(resolve(self.loader))
        return server.app_from_environ(resolve(self.loader), routes=resolve(self.routes) if self.routes else ())

    def defaults(self) -> dict[str, Callable[..., Any]]:
        """The framework's default serving functions (predict_fn always comes from the framework)."""
        from sm_contract.script_mode import user_module

        module = resolve(self.framework.serving_defaults) if self.framework.serving_defaults else None
        found = {name: getattr(module, f"default_{name}", None) for name in ("input_fn", "predict_fn", "output_fn")}
        return {
            "input_fn": found["input_fn"] or user_module.default_input_fn,
            "output_fn": found["output_fn"] or user_module.default_output_fn,
            "predict_fn": found["predict_fn"] or _no_default_predict,
        }

    def serve(self) -> None:
        os.environ.update(self.serve_environment)
        if multi_model_settings(os.environ).enabled:
            from sm_contract import multi_model

            multi_model.one_worker(os.environ)
        env = ServingEnv.from_environ()
        log_config.configure(env.log_level)
        try:  # once, before the workers start
            if env.script is not None:  # the workers import the user's module from this local copy
                from sm_contract.script_mode import user_module

                os.environ[SUBMIT_DIR_PARAM.upper()] = str(user_module.prepare(env.script, env))
            elif self.serve_prepare:
                resolve(self.serve_prepare)(env)
        except ContractError as exc:
            logger.error("cannot serve: %s", exc)
            sys.exit(STARTUP_FAILURE)
        sys.exit(server.serve(self.app_factory, extra_ports=[env.rest_port] if self.serve_rest_port else []))


def _no_default_predict(data: Any, model: Any) -> Any:
    raise ModelLoadError("this framework has no default predict_fn: define predict_fn in the module")
