"""``POST /invocations`` as a plain ASGI callable: the hot path of the server, with no framework in between.

Reads the request's headers once, negotiates Content-Type and Accept against the handler's lists, reads the body
up to the payload limit, and hands decode + predict + encode to the worker's :class:`~sm_contract.gate.Gate`.
Every outcome is a response: the handler's bytes, a JSON error ``{"error", "detail"}`` (4xx, 503, 504), or a 500
for a server fault (its traceback in the log). A body over the limit gets its 413 after a bounded drain, so
ordinary clients can read it; one far over the limit is answered at once and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.datastructures import Headers  # read lazily: decoded only when a handler looks one up
from starlette.types import Receive, Scope, Send

from sm_contract import codecs, content_types
from sm_contract.batching import Work
from sm_contract.environment import ServingEnv
from sm_contract.errors import (
    InvalidPayloadError,
    NotAcceptableError,
    PayloadTooLargeError,
    RequestError,
    RequestTimeoutError,
    UnsupportedMediaTypeError,
)
from sm_contract.gate import ClientGone, Gate
from sm_contract.request_log import RequestLog

logger = logging.getLogger("sm_contract.serving")

DRAIN_FACTOR = 4  # an oversized body is read (and dropped) up to this many times the limit before the 413
CLIENT_GONE = 499  # logged for a client that hung up before its answer (nginx's convention); nobody reads it


def negotiate(content_type: str | None, accept: str | None, handler: Any) -> tuple[str, str]:
    """The request's media type and the response's, from the headers and the handler's lists (415, 406)."""
    offered = handler.content_types
    if len(offered) == 1 and offered[0] == content_types.ANY:
        chosen = content_types.media_type(content_type) or content_types.JSON
    else:
        chosen = content_types.media_type(content_type) or offered[0]
    answers = handler.accept_types
    if len(answers) == 1 and answers[0] == content_types.ANY:
        return chosen, content_types.preferred(accept)
    if chosen not in offered:
        raise UnsupportedMediaTypeError(
            f"Content-Type '{content_type}' is not supported; use one of: {', '.join(offered)}"
        )
    answer = content_types.negotiate(accept, answers)
    if answer is None:
        raise NotAcceptableError(f"Accept '{accept}' cannot be met; this model answers {', '.join(answers)}")
    return chosen, answer


class Body:
    """The request body as ASGI messages deliver it: read up to a limit, or drained after an early answer."""

    def __init__(self, receive: Receive, declared: str | None) -> None:
        self.receive = receive
        self.declared = int(declared) if declared and declared.isdigit() else None
        self.complete = False  # the last message of the body has been received

    async def read(self, limit: int, deadline: float) -> bytes:
        if self.declared is not None and self.declared > limit:
            raise PayloadTooLargeError(f"body of {self.declared} bytes exceeds the {limit}-byte limit")
        first = await self._next()
        if self.complete:  # the usual case: the whole body had arrived with the headers
            if len(first) > limit:
                raise PayloadTooLargeError(f"body exceeds the {limit}-byte limit")
            return first
        try:
            async with asyncio.timeout_at(deadline):
                return await self._rest(first, limit)
        except TimeoutError:
            raise RequestTimeoutError("the request body did not arrive within the model server timeout") from None

    async def _rest(self, first: bytes, limit: int) -> bytes:
        chunks, size = [first], len(first)
        while not self.complete:
            chunk = await self._next()
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"body exceeds the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _next(self) -> bytes:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        self.complete = not message.get("more_body", False)
        body: bytes = message.get("body", b"")
        return body

    async def drain(self, limit: int) -> bool:
        """Read and drop what is left of the body, up to ``limit`` bytes; ``False`` if more remains."""
        if self.declared is not None and self.declared > limit:
            return self.complete
        size = 0
        try:
            while not self.complete:
                size += len(await self._next())
                if size > limit:
                    return False
        except ClientGone:
            return True
        return True


async def respond(send: Send, status: int, payload: bytes, media_type: str, close: bool = False) -> None:
    headers = [(b"content-type", media_type.encode("latin-1")), (b"content-length", b"%d" % len(payload))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class Invocations:
    """The ASGI callable of ``POST /invocations``; the handler and gate come from the lifespan's state."""

    def __init__(self, env: ServingEnv, log: RequestLog) -> None:
        self.env, self.log = env, log
        self.limit = env.max_payload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        content_type = accept = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        state = scope.get("state") or {}
        body = Body(receive, length)
        status = await self._answer(scope, state.get("handler"), state.get("gate"), body, send, (content_type, accept))
        self.log.record(status, content_type, time.perf_counter() - started)

    async def _answer(
        self,
        scope: Scope,
        handler: Any,
        gate: Gate | None,
        body: Body,
        send: Send,
        types: tuple[str | None, str | None],
    ) -> int:
        """Decode, predict and encode one request; every outcome is answered (500 only for server faults)."""
        try:
            if handler is None or gate is None:
                error = {"error": "not ready", "detail": "model not loaded"}
                await respond(send, 503, codecs.dump_json(error), content_types.JSON)
                return 503
            deadline = gate.deadline()
            content_type, accept = negotiate(*types, handler)
            payload = await body.read(self.limit, deadline)
            if not payload:
                raise InvalidPayloadError("request body is empty")
            work = Work(handler, payload, content_type, accept, Headers(scope=scope))
            on_loop = getattr(handler, "runs_on_event_loop", False)
            result, media_type = await gate.run(work, len(payload), deadline, body.receive, on_loop)
            await respond(send, 200, result, media_type)
            return 200
        except RequestError as exc:  # the body drained first, so that the client reads the answer (not a slow one)
            complete = not isinstance(exc, RequestTimeoutError) and await body.drain(DRAIN_FACTOR * self.limit)
            await respond(send, exc.status_code, codecs.dump_json(exc.body()), content_types.JSON, close=not complete)
            return exc.status_code
        except ClientGone:
            return CLIENT_GONE  # nothing to answer: the client is gone
        except Exception:  # a server fault, never the client's: 500 with the traceback in the log
            logger.exception("invocation failed")
            fault = {"error": "internal server error", "detail": "see the server log"}
            await respond(send, 500, codecs.dump_json(fault), content_types.JSON)
            return 500
