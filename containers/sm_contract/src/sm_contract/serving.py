"""The model server: Starlette routes for /ping, /invocations and /execution-parameters, run by uvicorn.

An image supplies a loader ``(model_dir) -> ModelHandler``; the app loads it once per worker in the lifespan,
answers /ping 200 only after that, negotiates Content-Type/Accept against the handler's codec lists, and runs
decode + predict + encode in a worker thread so the event loop keeps answering /ping.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sm_contract import content_types, log_config
from sm_contract.environment import ServingEnv
from sm_contract.errors import (
    InvalidPayloadError,
    NotAcceptableError,
    PayloadTooLargeError,
    RequestError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 10  # SageMaker sends SIGKILL 30 s after SIGTERM


class ModelHandler(Protocol):
    """What an image implements: the four-step split of decode, predict, encode (plus the codec lists)."""

    content_types: Sequence[str]  # request types, the first is assumed when Content-Type is absent
    accept_types: Sequence[str]  # response types, the first is the default

    def decode(self, body: bytes, content_type: str) -> Any: ...

    def predict(self, inputs: Any) -> Any: ...

    def encode(self, outputs: Any, accept: str) -> bytes: ...


Loader = Callable[[Path], ModelHandler]


def error_response(exc: RequestError) -> JSONResponse:
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code)


def _transform(handler: ModelHandler, body: bytes, content_type: str, accept: str) -> bytes:
    return handler.encode(handler.predict(handler.decode(body, content_type)), accept)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {int(declared)} bytes exceeds the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _negotiate(request: Request, handler: ModelHandler) -> tuple[str, str]:
    header = request.headers.get("content-type")
    content_type = content_types.media_type(header) or handler.content_types[0]
    if content_type not in handler.content_types:
        raise UnsupportedMediaTypeError(
            f"Content-Type '{header}' is not supported; use one of: {', '.join(handler.content_types)}"
        )
    accept = content_types.negotiate(request.headers.get("accept"), handler.accept_types)
    if accept is None:
        raise NotAcceptableError(
            f"Accept '{request.headers.get('accept')}' cannot be met; this model answers "
            f"{', '.join(handler.accept_types)}"
        )
    return content_type, accept


def create_app(load: Loader, env: ServingEnv, *, max_concurrent_predictions: int = 1) -> Starlette:
    """The ASGI app; the model loads when the lifespan starts (``TestClient`` as a context manager too)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        started = time.perf_counter()
        handler = await anyio.to_thread.run_sync(load, env.model_dir)
        logger.info("model loaded from %s in %.0f ms", env.model_dir, (time.perf_counter() - started) * 1e3)
        yield {"handler": handler, "limiter": anyio.CapacityLimiter(max_concurrent_predictions)}

    async def ping(request: Request) -> Response:
        loaded = getattr(request.state, "handler", None) is not None
        return Response(status_code=200 if loaded else 503)

    async def execution_parameters(_request: Request) -> JSONResponse:
        # Batch transform reads these when the job leaves them unset.
        return JSONResponse(
            {
                "MaxConcurrentTransforms": env.workers,
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": env.max_payload_bytes // (1024 * 1024),
            }
        )

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "")
        try:
            handler = getattr(request.state, "handler", None)
            if handler is None:
                return JSONResponse({"error": "not ready", "detail": "model not loaded"}, status_code=503)
            content_type, accept = _negotiate(request, handler)
            body = await _read_body(request, env.max_payload_bytes)
            if not body:
                raise InvalidPayloadError("request body is empty")
            payload = await anyio.to_thread.run_sync(
                _transform, handler, body, content_type, accept, limiter=request.state.limiter
            )
            response: Response = Response(payload, media_type=accept)
        except RequestError as exc:
            response = error_response(exc)
        except Exception:  # a server fault, never the client's: 500 with the traceback in the log
            logger.exception("invocation failed")
            response = JSONResponse({"error": "internal server error", "detail": "see the server log"}, status_code=500)
        logger.info(
            "invocations status=%d content_type=%s ms=%.2f",
            response.status_code,
            content_type or "-",
            (time.perf_counter() - started) * 1e3,
        )
        return response

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/execution-parameters", execution_parameters, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(app_factory: str, environ: dict[str, str] | None = None) -> int:
    """Run uvicorn on ``SAGEMAKER_BIND_TO_PORT`` with ``SAGEMAKER_MODEL_SERVER_WORKERS`` processes.

    ``app_factory`` is an import string (``"pkg.module:function"``) so each worker process builds its own
    app and loads its own copy of the model. uvicorn handles SIGTERM itself (graceful shutdown). Returns the
    exit code: non-zero when the model could not be loaded, so the endpoint or transform job fails visibly
    instead of a container that runs without a model.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE  # exit code of a worker whose app (the model) failed to load
    from uvicorn.supervisors import Multiprocess

    env = ServingEnv.from_environ(environ)
    log_config.configure(env.log_level)
    logger.info("serving on port %d with %d worker(s)", env.port, env.workers)
    config = uvicorn.Config(
        app_factory,
        factory=True,
        host="0.0.0.0",  # noqa: S104 - SageMaker reaches the container from outside
        port=env.port,
        workers=env.workers,
        access_log=False,
        log_config=None,
        timeout_keep_alive=75,  # longer than SageMaker's front end idles, so it never hits a closed socket
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    if env.workers == 1:
        uvicorn.Server(config).run()  # exits with STARTUP_FAILURE itself when the model fails to load
        return 0
    # What uvicorn.run does for several workers, keeping the supervisor to read its workers' exit codes
    # (uvicorn.run returns normally): it stops when a worker fails during start-up, so must the container.
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        logger.error("worker(s) %s failed to start (see above); exiting", failed)
        return STARTUP_FAILURE
    return 0


def app_from_environ(load: Loader, environ: dict[str, str] | None = None) -> Starlette:
    """What an image's app factory returns: settings from the environment, logging configured."""
    env = ServingEnv.from_environ(environ)
    log_config.configure(env.log_level)
    return create_app(load, env)
