"""The model server app: Starlette routes for /ping, /invocations and /execution-parameters.

An image supplies a loader ``(ServingEnv) -> ModelHandler``; the app loads it once per worker in the lifespan,
answers /ping 200 only after that, negotiates Content-Type/Accept against the handler's codec lists, and runs
decode + predict + encode in a worker thread so the event loop keeps answering /ping. Work is bounded: at
most ``queue_size`` requests wait for the model, a request that cannot finish within the model-server timeout
is answered 504 and dropped if it has not started, a request whose client is gone is never computed, and a
body over the payload limit gets its 413 after a bounded drain, so ordinary clients can read it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sm_contract import content_types
from sm_contract.environment import ServingEnv
from sm_contract.errors import (
    InvalidPayloadError,
    NotAcceptableError,
    PayloadTooLargeError,
    RequestError,
    ServerBusyError,
    TimedOutError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger(__name__)

DRAIN_FACTOR = 4  # an oversized body is read (and dropped) up to this many times the limit before the 413
EXECUTION_PARAMETERS_PAYLOAD_MB = 1  # MultiRecord batches of about 1 MB stay well inside the record caps


class ModelHandler(Protocol):
    """What an image implements: the four-step split of decode, predict, encode (plus the codec lists)."""

    @property
    def content_types(self) -> Sequence[str]:
        """Request types, the first assumed when Content-Type is absent; ``("*/*",)``: the handler reads any."""

    @property
    def accept_types(self) -> Sequence[str]:
        """Response types, the first the default; ``("*/*",)``: the handler decides from the Accept header."""

    def decode(self, body: bytes, content_type: str) -> Any:
        """The request's content; a handler with ``reads_headers = True`` also gets the request's headers."""

    def predict(self, inputs: Any) -> Any: ...

    def encode(self, outputs: Any, accept: str) -> bytes | tuple[bytes, str]: ...


Loader = Callable[[ServingEnv], ModelHandler]
Transform = Callable[[], Response]


class ClientGone(Exception):
    """The client disconnected before its answer was computed: nothing to compute, nothing to report."""


def error_response(exc: RequestError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


class Gate:
    """Admission to one worker's model: ``concurrency`` threads compute, at most ``queue_size`` requests wait.

    The model's threads are a dedicated executor, whose own FIFO queue holds the waiting requests: a request
    costs one hand-over to a thread and one back. A request that times out while queued is cancelled there and
    never computed; one already computing finishes in its thread (keeping it busy), its answer discarded. While
    a request waits in the queue, its connection is watched: a client that hangs up takes its request out.
    """

    def __init__(self, concurrency: int, queue_size: int, timeout_s: float) -> None:
        self.concurrency, self.queue_size, self.timeout_s = concurrency, queue_size, timeout_s
        self.executor = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="model")
        self.pending = 0  # computing or queued (event-loop side)

    @property
    def waiting(self) -> int:
        return max(0, self.pending - self.concurrency)

    async def run(self, request: Request, work: Transform) -> Response:
        """``work()`` on a model thread; 503 when the queue is full, 504 when the timeout passes."""
        if self.waiting >= self.queue_size:
            raise ServerBusyError(f"{self.waiting} requests are already waiting for this worker; retry later")
        queued = self.pending >= self.concurrency
        self.pending += 1
        started = threading.Event()

        def job() -> Response:
            started.set()
            return work()

        future = self.executor.submit(job)
        answer = asyncio.wrap_future(future)
        try:
            if queued:  # the common case, a free thread, needs no watcher
                await self._wait_or_client_gone(request, answer)
            return await asyncio.wait_for(asyncio.shield(answer), self.timeout_s)
        except TimeoutError:
            future.cancel()  # dropped if still queued; a running job ends on its own
            raise TimedOutError(
                f"the model server timeout ({self.timeout_s:g} s) passed; the request was "
                + ("abandoned" if started.is_set() else "dropped before it started")
            ) from None
        finally:
            self.pending -= 1

    async def _wait_or_client_gone(self, request: Request, answer: asyncio.Future[Response]) -> None:
        """Wait (up to the timeout) for the answer or for the client to hang up, whichever comes first."""
        gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(request))
        waiting: set[asyncio.Future[Any]] = {answer, gone}
        try:
            done, _ = await asyncio.wait(waiting, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if gone in done and not answer.done():
            answer.cancel()
            raise ClientGone

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body was read: the next message can only be the disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def read_body(request: Request, limit: int) -> bytes:
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


async def drain(request: Request, limit: int) -> bool:
    """Read and drop what is left of the body, up to ``limit`` bytes; ``False`` if more remains."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return False
    size = 0
    with contextlib.suppress(ClientDisconnect, RuntimeError):  # RuntimeError: the stream was consumed already
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return False
    return True


def negotiate(request: Request, handler: ModelHandler) -> tuple[str, str]:
    header = request.headers.get("content-type")
    if tuple(handler.content_types) == (content_types.ANY,):
        content_type = content_types.media_type(header) or content_types.JSON
    else:
        content_type = content_types.media_type(header) or handler.content_types[0]
    if tuple(handler.accept_types) == (content_types.ANY,):
        return content_type, content_types.preferred(request.headers.get("accept"))
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


async def answer_error(request: Request, exc: RequestError, limit: int) -> Response:
    """The JSON error, after draining the body so the client can read it (or closing when it is huge)."""
    complete = await drain(request, DRAIN_FACTOR * limit)
    return error_response(exc, headers=None if complete else {"Connection": "close"})


def create_app(
    load: Loader,
    env: ServingEnv,
    *,
    max_concurrent_predictions: int = 1,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app; the model loads when the lifespan starts (``TestClient`` as a context manager too).

    ``routes`` are extra routes of an image; they find the handler in ``request.state.handler``.
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        started = time.perf_counter()
        handler = await anyio.to_thread.run_sync(load, env)
        logger.info("model loaded from %s in %.0f ms", env.model_dir, (time.perf_counter() - started) * 1e3)
        gate = Gate(max_concurrent_predictions, env.queue_size, env.timeout_s)
        try:
            yield {"handler": handler, "gate": gate}
        finally:
            gate.close()

    async def ping(request: Request) -> Response:
        loaded = getattr(request.state, "handler", None) is not None
        return Response(status_code=200 if loaded else 503)

    async def execution_parameters(_request: Request) -> JSONResponse:
        # Batch transform reads these when the job leaves them unset.
        payload_mb = max(1, min(EXECUTION_PARAMETERS_PAYLOAD_MB, env.max_payload_bytes // (1024 * 1024)))
        return JSONResponse(
            {"MaxConcurrentTransforms": env.workers, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": payload_mb}
        )

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "")
        status = await _invoke(request, env)
        logger.info(
            "invocations status=%d content_type=%s ms=%.2f",
            status.status_code,
            content_type or "-",
            (time.perf_counter() - started) * 1e3,
        )
        return status

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            *routes,
        ],
        lifespan=lifespan,
    )


async def _invoke(request: Request, env: ServingEnv) -> Response:
    """Decode, predict and encode one request; every outcome becomes a response (500 only for server faults)."""
    try:
        handler: ModelHandler | None = getattr(request.state, "handler", None)
        if handler is None:
            return JSONResponse({"error": "not ready", "detail": "model not loaded"}, status_code=503)
        content_type, accept = negotiate(request, handler)
        body = await read_body(request, env.max_payload_bytes)
        if not body:
            raise InvalidPayloadError("request body is empty")

        headers = dict(request.headers) if getattr(handler, "reads_headers", False) else None

        def work() -> Response:
            decode: Any = handler.decode
            decoded = decode(body, content_type, headers) if headers is not None else decode(body, content_type)
            encoded = handler.encode(handler.predict(decoded), accept)
            payload, media_type = encoded if isinstance(encoded, tuple) else (encoded, accept)
            return Response(payload, media_type=media_type)

        gate: Gate = request.state.gate
        return await gate.run(request, work)
    except RequestError as exc:
        return await answer_error(request, exc, env.max_payload_bytes)
    except (ClientDisconnect, ClientGone):
        logger.info("client went away before its answer was ready")
        return Response(status_code=499)  # nobody reads it; not an error of ours
    except Exception:  # a server fault, never the client's: 500 with the traceback in the log
        logger.exception("invocation failed")
        return JSONResponse({"error": "internal server error", "detail": "see the server log"}, status_code=500)


async def invoke_handler(request: Request, env: ServingEnv, handler: ModelHandler) -> Response:
    """``/invocations``'s whole path for a handler the route chose (``/models/{name}/invoke``, multi_model.py)."""
    request.state.handler = handler
    return await _invoke(request, env)
