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
module) pointed at ``url`` instead of ``/opt/ml/model``, with ``ServingEnv.model_name`` set; an image's prepare
step (e.g. a model's ``code/requirements.txt``) runs for each model before it loads, its extra routes are served
next to ``/models`` (they find a model with :func:`handler_for`), and a handler's ``close()``, when it has one,
is called once it is unloaded. What a model costs is our reading, as AWS leaves it to
the container: the bytes of its files, counted against ``MODEL_SERVER_MODELS_MEMORY_BYTES`` (default half the
container's memory). The models live in the worker process (:mod:`sm_contract.model_store`), so a multi-model
container runs one worker.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sm_contract import codecs, log_config
from sm_contract.environment import ServingEnv, multi_model_settings
from sm_contract.errors import InvalidPayloadError, RequestError
from sm_contract.model_store import ModelStore, one_worker
from sm_contract.serving import Loader, create_app, error_response, invoke_handler

if TYPE_CHECKING:
    from sm_contract.entrypoints import Prepare  # run before each model loads; a ContractError refuses the load

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
__all__ = ["app_from_environ", "create_multi_model_app", "enabled", "handler_for", "one_worker"]


def _store(request: Request) -> ModelStore:
    store: ModelStore = request.state.handler
    return store


def handler_for(request: Request, name: str) -> Any:
    """For an image's extra routes: the handler of the loaded model ``name`` in a multi-model container
    (a 404 RequestError when there is none), else the container's one model (None until it has loaded)."""
    found = getattr(request.state, "handler", None)
    if isinstance(found, ModelStore):
        return found.get(name).handler
    return found


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


def create_multi_model_app(
    load: Loader,
    env: ServingEnv,
    budget_bytes: int,
    *,
    routes: Sequence[BaseRoute] = (),
    prepare: Prepare | None = None,
) -> Starlette:
    """The serving app of a multi-model container: /ping, the /models API, /execution-parameters, and the
    image's own ``routes``; ``prepare`` runs before each model loads."""

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

    api = [
        Route("/models", list_models, methods=["GET"]),
        Route("/models", load_model, methods=["POST"]),
        Route("/models/{name}", describe_model, methods=["GET"]),
        Route("/models/{name}", unload_model, methods=["DELETE"]),
        Route("/models/{name}/invoke", invoke, methods=["POST"]),
        *routes,
    ]
    return create_app(lambda serving_env: ModelStore(load, serving_env, budget_bytes, prepare), env, routes=api)


def enabled(environ: MutableMapping[str, str] | None = None) -> bool:
    return multi_model_settings(os.environ if environ is None else environ).enabled


def app_from_environ(load: Loader, routes: Sequence[BaseRoute] = (), prepare: Prepare | None = None) -> Starlette:
    """What an image's app factory returns in multi-model mode."""
    env = ServingEnv.from_environ()
    log_config.configure(env.log_level)
    budget = multi_model_settings(env.environ).memory_bytes
    logger.info("multi-model serving: models loaded through POST /models, %d bytes for models", budget)
    return create_multi_model_app(load, env, budget, routes=routes, prepare=prepare)
