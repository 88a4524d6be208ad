"""Multi-model serving: the ``/models`` API of SageMaker's multi-model endpoint container contract.

SageMaker loads, lists, gets, unloads and invokes models by an opaque ``model_name`` (DG "Custom containers
contract for multi-model endpoints"):

=============================  ==========================================================================
``POST /models``               ``{"model_name", "url"}``: load the model in folder ``url``; 409 when the name is
                               loaded, 507 when it does not fit (SageMaker then unloads another and retries)
``GET /models``                ``{"models": [{"modelName", "modelUrl"}], "nextPageToken"}``, paged with
                               ``next_page_token`` and ``page_size``
``GET /models/{name}``         ``{"modelName", "modelUrl"}``; 404 when not loaded
``DELETE /models/{name}``      unload; 404 when not loaded
``POST /models/{name}/invoke``  the model's answer, exactly as ``/invocations`` gives it; 404 when not loaded
=============================  ==========================================================================

The container runs this way when SageMaker sets ``SAGEMAKER_MULTI_MODEL=true``, or when ``/opt/ml/models`` exists
and ``/opt/ml/model`` holds nothing (see :func:`sm_contract.environment.multi_model_settings`); the image declares
it can with the label
``com.amazonaws.sagemaker.capabilities.multi-models=true``. Each model is the image's own loader (or the user's
module) pointed at ``url`` instead of ``/opt/ml/model``. What a model costs is our reading, as AWS leaves it to
the container: the bytes of its files, counted against ``MODEL_SERVER_MODELS_MEMORY_BYTES`` (default half the
container's memory). The models live in the worker process, so a multi-model container runs one worker.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sm_contract import codecs, log_config
from sm_contract.content_types import ANY
from sm_contract.environment import WORKERS_VAR, ServingEnv, multi_model_settings
from sm_contract.errors import ContractError, InvalidPayloadError, RequestError
from sm_contract.paths import MLPaths
from sm_contract.serving import Loader, ModelHandler, create_app, error_response, invoke_handler

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100


class ModelNotFoundError(RequestError):
    status_code = 404
    error = "model not found"


class ModelConflictError(RequestError):
    status_code = 409
    error = "model already loaded"


class InsufficientMemoryError(RequestError):
    status_code = 507
    error = "insufficient memory"


@dataclasses.dataclass(frozen=True)
class _ModelPaths(MLPaths):
    """The /opt/ml layout with the model folder somewhere else (a multi-model ``url``)."""

    model: Path = Path()

    @property
    def model_dir(self) -> Path:
        return self.model


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    name: str
    url: str
    handler: ModelHandler
    size: int  # bytes counted against the budget

    def description(self) -> dict[str, str]:
        return {"modelName": self.name, "modelUrl": self.url}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class ModelStore:
    """The models of one worker by name, within a byte budget. Thread-safe: loads run in worker threads.

    It is also the app's handler for ``/invocations``, which a multi-model container does not serve (SageMaker
    calls ``/models/{name}/invoke``): every such request is answered 404 naming the route to use.
    """

    content_types = (ANY,)
    accept_types = (ANY,)

    def __init__(self, load: Loader, env: ServingEnv, budget_bytes: int) -> None:
        self._load, self._env, self.budget_bytes = load, env, budget_bytes
        self._models: dict[str, LoadedModel] = {}
        self._reserved: dict[str, int] = {}  # names being loaded and their bytes
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        return sum(m.size for m in self._models.values()) + sum(self._reserved.values())

    def load(self, name: str, url: str) -> LoadedModel:
        folder = Path(url)
        if not folder.is_dir():
            raise ModelNotFoundError(f"no model folder at {url}")
        size = folder_bytes(folder)
        self._reserve(name, size)
        started = time.perf_counter()
        try:
            env = dataclasses.replace(self._env, paths=_ModelPaths(self._env.paths.base, folder))
            handler = self._load(env)
        except MemoryError:
            raise InsufficientMemoryError(f"model {name} did not fit in memory while loading") from None
        except ContractError as exc:  # the artifact is not a model this image serves
            raise InvalidPayloadError(f"model {name} at {url} could not be loaded: {exc}") from None
        finally:
            with self._lock:
                self._reserved.pop(name, None)
        loaded = LoadedModel(name, url, handler, size)
        with self._lock:
            self._models[name] = loaded
        logger.info(
            "loaded model %s (%d bytes) from %s in %.0f ms", name, size, url, 1e3 * (time.perf_counter() - started)
        )
        return loaded

    def _reserve(self, name: str, size: int) -> None:
        with self._lock:
            if name in self._models or name in self._reserved:
                raise ModelConflictError(f"model {name} is already loaded")
            if self.used_bytes + size > self.budget_bytes:
                raise InsufficientMemoryError(
                    f"model {name} needs {size} bytes; {self.used_bytes} of the {self.budget_bytes}-byte budget "
                    f"hold {len(self._models)} model(s): unload one"
                )
            self._reserved[name] = size

    def unload(self, name: str) -> LoadedModel:
        with self._lock:
            if name not in self._models:
                raise ModelNotFoundError(f"model {name} is not loaded")
            return self._models.pop(name)

    def get(self, name: str) -> LoadedModel:
        found = self._models.get(name)
        if found is None:
            raise ModelNotFoundError(f"model {name} is not loaded")
        return found

    def page(self, token: str | None, size: int) -> tuple[list[LoadedModel], str | None]:
        """One page of the loaded models in load order; the token is the offset of the next page."""
        models = list(self._models.values())
        start = int(token) if token else 0
        end = start + size
        return models[start:end], str(end) if end < len(models) else None

    # /invocations: not served by a multi-model container
    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        raise ModelNotFoundError("this container serves several models: POST /models/{model_name}/invoke")

    def predict(self, inputs: Any) -> Any:
        return inputs

    def encode(self, outputs: Any, accept: str) -> bytes:
        return b""


def _store(request: Request) -> ModelStore:
    store: ModelStore = request.state.handler
    return store


def _int_query(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise InvalidPayloadError(f"{name}={raw!r} is not a non-negative integer")
    return int(raw)


async def list_models(request: Request) -> Response:
    try:
        size = _int_query(request, "page_size", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        token = _int_query(request, "next_page_token", None)
    except RequestError as exc:
        return error_response(exc)
    models, next_token = _store(request).page(None if token is None else str(token), size)
    answer: dict[str, Any] = {"models": [m.description() for m in models]}
    if next_token is not None:
        answer["nextPageToken"] = next_token
    return JSONResponse(answer)


async def load_model(request: Request) -> Response:
    try:
        spec = codecs.load_json(await request.body())
        if not isinstance(spec, dict) or not isinstance(spec.get("model_name"), str) or not spec["model_name"]:
            raise InvalidPayloadError('the body must be {"model_name": "...", "url": "/opt/ml/models/.../model"}')
        if not isinstance(spec.get("url"), str) or not spec["url"]:
            raise InvalidPayloadError(f"model {spec['model_name']}: url must name the model's folder")
        name, url = spec["model_name"], spec["url"]
        await anyio.to_thread.run_sync(_store(request).load, name, url)
    except RequestError as exc:
        logger.info("load refused: %s %s", exc.status_code, exc.detail)
        return error_response(exc)
    return JSONResponse({"status": f"model {name} loaded"})


async def describe_model(request: Request) -> Response:
    try:
        return JSONResponse(_store(request).get(request.path_params["name"]).description())
    except RequestError as exc:
        return error_response(exc)


async def unload_model(request: Request) -> Response:
    try:
        unloaded = _store(request).unload(request.path_params["name"])
    except RequestError as exc:
        return error_response(exc)
    logger.info("unloaded model %s", unloaded.name)
    return JSONResponse({"status": f"model {unloaded.name} unloaded"})


def create_multi_model_app(load: Loader, env: ServingEnv, budget_bytes: int) -> Starlette:
    """The serving app of a multi-model container: /ping, the /models API, /execution-parameters."""

    async def invoke(request: Request) -> Response:
        started = time.perf_counter()
        try:
            model = _store(request).get(request.path_params["name"])
        except RequestError as exc:
            return error_response(exc)
        answer = await invoke_handler(request, env, model.handler)
        logger.info(
            "invoke model=%s status=%d ms=%.2f", model.name, answer.status_code, 1e3 * (time.perf_counter() - started)
        )
        return answer

    routes = [
        Route("/models", list_models, methods=["GET"]),
        Route("/models", load_model, methods=["POST"]),
        Route("/models/{name}", describe_model, methods=["GET"]),
        Route("/models/{name}", unload_model, methods=["DELETE"]),
        Route("/models/{name}/invoke", invoke, methods=["POST"]),
    ]
    return create_app(lambda serving_env: ModelStore(load, serving_env, budget_bytes), env, routes=routes)


def enabled(environ: MutableMapping[str, str] | None = None) -> bool:
    return multi_model_settings(os.environ if environ is None else environ).enabled


def one_worker(environ: MutableMapping[str, str]) -> None:
    """Before the server starts: one worker process holds the models (the /models state is per process)."""
    if environ.get(WORKERS_VAR, "1") != "1":
        logger.warning("%s=%s ignored: a multi-model container runs one worker", WORKERS_VAR, environ[WORKERS_VAR])
    environ[WORKERS_VAR] = "1"


def app_from_environ(load: Loader) -> Starlette:
    """What an image's app factory returns in multi-model mode."""
    env = ServingEnv.from_environ()
    log_config.configure(env.log_level)
    budget = multi_model_settings(env.environ).memory_bytes
    logger.info("multi-model serving: models loaded through POST /models, %d bytes for models", budget)
    return create_multi_model_app(load, env, budget)
