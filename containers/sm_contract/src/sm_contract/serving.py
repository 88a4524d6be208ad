"""The model server app: /ping, /invocations and /execution-parameters (Starlette, with a plain ASGI hot path).

An image supplies a loader ``(ServingEnv) -> ModelHandler``; the app loads it once per worker in the lifespan,
answers /ping 200 only after that, and answers ``POST /invocations`` (:mod:`sm_contract.invocations`): Content-
Type/Accept negotiated against the handler's codec lists, decode + predict + encode admitted by the worker's
:class:`~sm_contract.gate.Gate`. Work is bounded: at most ``queue_size`` requests wait for the model, a request
has one deadline (the model-server timeout) and is answered 504 there (dropped if it has not started), a
request whose client is gone is never computed, and a body over the payload limit gets its 413 after a bounded
drain, so ordinary clients can read it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from sm_contract.environment import ServingEnv
from sm_contract.errors import RequestError
from sm_contract.gate import INLINE_BUDGET_S, ClientGone, Gate
from sm_contract.invocations import CLIENT_GONE, Invocations, negotiate
from sm_contract.request_log import RequestLog

logger = logging.getLogger(__name__)

EXECUTION_PARAMETERS_PAYLOAD_MB = 1  # MultiRecord batches of about 1 MB stay well inside the record caps
# CreateTransformJob: MaxConcurrentTransforms x MaxPayloadInMB may not exceed 100 (API reference, MaxPayloadInMB).
MAX_TRANSFORM_MB_IN_FLIGHT = 100
__all__ = [
    "ClientGone",
    "Gate",
    "Loader",
    "ModelHandler",
    "ServingApp",
    "create_app",
    "error_response",
    "invoke_handler",
    "negotiate",
]


class ModelHandler(Protocol):
    """What an image implements: the four-step split of decode, predict, encode (plus the codec lists)."""

    @property
    def content_types(self) -> Sequence[str]:
        """Request types, the first assumed when Content-Type is absent; ``("*/*",)``: the handler reads any."""

    @property
    def accept_types(self) -> Sequence[str]:
        """Response types, the first the default; ``("*/*",)``: the handler decides from the Accept header."""

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        """The request's content; ``headers``, the request's headers found by lower-case name, serve a handler
        that reads more than the body (custom attributes, Accept).

        A handler with ``runs_on_event_loop = True`` may be computed on the worker's event loop when the model is
        idle and the request fast (:mod:`sm_contract.gate`); it must never call back into its own server. One that
        also has ``predicts_batches = True`` (decode returns records along the first axis, predict maps them row
        by row) has small requests that arrive together predicted in one call (:mod:`sm_contract.batching`)."""

    def predict(self, inputs: Any) -> Any: ...

    def encode(self, outputs: Any, accept: str) -> bytes | tuple[bytes, str]: ...


Loader = Callable[[ServingEnv], ModelHandler]


class ServingApp(Starlette):
    """The Starlette app with ``POST /invocations`` answered before the router: the hot path skips routing and
    middleware. Every other route, extra routes and anything mounted later go through Starlette as usual."""

    def __init__(self, invocations: Invocations, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invocations = invocations
        self.gate: Gate | None = None  # the worker's gate once the model is loaded (tests observe it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations" and scope["method"] == "POST":
            await self.invocations(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    load: Loader,
    env: ServingEnv,
    *,
    max_concurrent_predictions: int = 1,
    routes: Sequence[BaseRoute] = (),
    inline_budget_s: float = INLINE_BUDGET_S,
) -> ServingApp:
    """The ASGI app; the model loads when the lifespan starts (``TestClient`` as a context manager too).

    ``routes`` are extra routes of an image; they find the handler in ``request.state.handler``.
    ``inline_budget_s`` bounds the time a request may compute on the event loop (0: always in a model thread).
    """
    request_log = RequestLog()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        started = time.perf_counter()
        handler = await anyio.to_thread.run_sync(load, env)
        logger.info("model loaded from %s in %.0f ms", env.model_dir, (time.perf_counter() - started) * 1e3)
        gate = Gate(max_concurrent_predictions, env.queue_size, env.timeout_s, inline_budget_s)
        serving_app.gate = gate
        try:
            yield {"handler": handler, "gate": gate}
        finally:
            request_log.flush()
            gate.close()

    async def ping(request: Request) -> Response:
        loaded = getattr(request.state, "handler", None) is not None
        return Response(status_code=200 if loaded else 503)

    async def execution_parameters(_request: Request) -> JSONResponse:
        # Batch transform reads these when the job leaves them unset. One request per worker and one more: it waits
        # in the kernel's queue for the first worker to finish (sm_contract.listener), which then need not wait for
        # the client's next request. chainer-mnist: 6% more images/s than one per worker (bench/chainer_serving.py
        # --batch-concurrency 3 against 2, 5 rounds each).
        payload_mb = max(1, min(EXECUTION_PARAMETERS_PAYLOAD_MB, env.max_payload_bytes // (1024 * 1024)))
        concurrency = min(env.workers + 1, MAX_TRANSFORM_MB_IN_FLIGHT // payload_mb)
        return JSONResponse(
            {"MaxConcurrentTransforms": concurrency, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": payload_mb}
        )

    invocations = Invocations(env, request_log)
    serving_app = ServingApp(
        invocations,
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            *routes,
        ],
        lifespan=lifespan,
    )
    return serving_app


def error_response(exc: RequestError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


async def invoke_handler(
    request: Request, env: ServingEnv, handler: ModelHandler, gate: Gate | None = None
) -> Response:
    """``/invocations``'s whole path for a handler the route chose (``/models/{name}/invoke``, multi_model.py):
    the same negotiation, limits, gate and errors, its answer collected as a Response. ``gate``: another gate
    than the worker's, for work that a request holding the worker's gate may wait on."""
    app = request.app
    invocations: Invocations = app.invocations if isinstance(app, ServingApp) else Invocations(env, RequestLog())
    messages: list[Message] = []

    async def collect(message: Message) -> None:
        messages.append(message)

    state = {**request.scope.get("state", {}), "handler": handler}
    if gate is not None:
        state["gate"] = gate
    scope = {**request.scope, "state": state}
    await invocations(scope, request.receive, collect)
    if not messages:  # the client hung up: nobody reads the answer
        return Response(status_code=CLIENT_GONE)
    start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start.get("headers", [])}
    headers.pop("content-length", None)  # Response counts its body itself
    return Response(body, status_code=start["status"], headers=headers)
