"""An image's ``train`` and ``serve`` console scripts, built from the few callables the image supplies.

Each image's ``image.py`` declares ``IMAGE = Image(...)`` with its hooks (built-in trainer, model loader, ...): typed
functions of no arguments that import their module inside their bodies and return the piece. Importing
``image.py`` thus imports no framework, and ``serve``'s supervisor never does; a job or a worker imports one when
it asks for its piece, before logging is configured (importing Chainer raises the root logger's level). The image
exports ``IMAGE.train``, ``IMAGE.serve`` and ``IMAGE.app``; its ``pyproject.toml`` points the console scripts there.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sm_contract import log_config, server
from sm_contract.environment import SUBMIT_DIR_PARAM, ServingEnv, TrainingEnv, multi_model_settings
from sm_contract.errors import ContractError, ModelLoadError
from sm_contract.script_mode import Framework
from sm_contract.training import StopSignal, run_training

if TYPE_CHECKING:  # the app's modules: in the workers, never in the supervisor
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute

    from sm_contract.serving import Loader

logger = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit code when a worker cannot load its app

Trainer = Callable[[TrainingEnv, StopSignal], None]  # the built-in training job
Prepare = Callable[[ServingEnv], None]  # once before the workers start; a ContractError stops the container
ServingFunctions = Mapping[str, Callable[..., Any]]  # a framework's default input_fn / predict_fn / output_fn


@dataclass(frozen=True)
class Image:
    """What an image plugs into the contract: hooks that import their module only when asked for their piece."""

    trainer: Callable[[], Trainer]
    loader: Callable[[], Loader]  # the built-in model
    # ``"<module>:IMAGE.app"``, this image's ``app``: a name, since every uvicorn worker process imports it anew.
    app_factory: str
    framework: Framework  # script mode and multi-host training
    # Environment set for ``serve`` before any worker starts (e.g. switches read when a framework is imported).
    serve_environment: Mapping[str, str] = field(default_factory=dict)
    # E.g. a model's requirements.txt: once before the workers start, or before each model of a multi-model
    # container loads (in its worker).
    serve_prepare: Callable[[], Prepare] | None = None
    serve_rest_port: bool = False  # also listen on ServingEnv.rest_port (a model server's own API)
    # Extra routes of the built-in model's app; in a multi-model container they find a model with
    # sm_contract.multi_model.handler_for.
    routes: Callable[[], Sequence[BaseRoute]] | None = None
    serving_defaults: Callable[[], ServingFunctions] | None = None  # for users' modules (script mode)

    def train(self) -> None:
        sys.exit(run_training(self.training_job))

    def training_job(self, env: TrainingEnv, stop: StopSignal) -> int | None:
        """The user's script when the job names one, else the built-in trainer (launched on every host)."""
        from sm_contract.script_mode.runner import run_builtin, run_user_script  # not in serve's processes

        if env.script is not None:
            return run_user_script(env, stop, self.framework)
        if len(env.hosts) > 1:
            return run_builtin(env, stop, self.framework)
        trainer = self.trainer()
        log_config.configure(env.log_level)  # after the framework's import, which may change the root level
        trainer(env, stop)
        return None

    def app(self) -> Starlette:
        """The app of one uvicorn worker: the user's module when the model names one, else the built-in model
        (with the image's routes); with ``SAGEMAKER_MULTI_MODEL=true`` either one per model of the /models API."""
        from sm_contract import multi_model  # the app's modules: in the workers, never in the supervisor

        if ServingEnv.from_environ().script is not None:
            from sm_contract.script_mode import user_module  # NumPy and the codecs: only for a user's module

            user_loader = functools.partial(user_module.UserModuleHandler.load, defaults=self.defaults())
            if multi_model.enabled():
                return multi_model.app_from_environ(user_loader)
            return server.app_from_environ(user_loader)
        load, routes = self.loader(), self.routes() if self.routes else ()
        if multi_model.enabled():
            prepare = self.serve_prepare() if self.serve_prepare else None
            return multi_model.app_from_environ(load, routes, prepare)
        return server.app_from_environ(load, routes=routes)

    def defaults(self) -> dict[str, Callable[..., Any]]:
        """The framework's default serving functions (predict_fn always comes from the framework)."""
        from sm_contract.script_mode import user_module

        found = self.serving_defaults() if self.serving_defaults else {}
        return {
            "input_fn": found.get("input_fn") or user_module.default_input_fn,
            "output_fn": found.get("output_fn") or user_module.default_output_fn,
            "predict_fn": found.get("predict_fn") or _no_default_predict,
        }

    def serve(self) -> None:
        os.environ.update(self.serve_environment)
        many = multi_model_settings(os.environ).enabled
        if many:
            from sm_contract.model_store import one_worker  # the server's modules: only in the workers

            one_worker(os.environ)
        env = ServingEnv.from_environ()
        log_config.configure(env.log_level)
        try:  # once, before the workers start
            if env.script is not None:  # the workers import the user's module from this local copy
                from sm_contract.script_mode import user_module

                os.environ[SUBMIT_DIR_PARAM.upper()] = str(user_module.prepare(env.script, env))
            elif self.serve_prepare is not None and not many:  # many models: each is prepared as it loads
                self.serve_prepare()(env)
        except ContractError as exc:
            logger.error("cannot serve: %s", exc)
            sys.exit(STARTUP_FAILURE)
        sys.exit(server.serve(self.app_factory, extra_ports=[env.rest_port] if self.serve_rest_port else []))


def _no_default_predict(data: Any, model: Any) -> Any:
    raise ModelLoadError("this framework has no default predict_fn: define predict_fn in the module")
