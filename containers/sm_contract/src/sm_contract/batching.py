"""One request's work (decode, predict, encode), and small requests that arrive together predicted together.

A handler that declares ``predicts_batches = True`` promises that its ``decode`` returns an array of records
along the first axis and that its ``predict`` maps records to outputs row by row. The gate of its worker then
joins the small requests that reach the event loop in the same turn into one call of ``predict`` over all their
records: the model reads its weights once for all of them instead of once per request (for chainer-mnist's MLP,
7 MB of weights per single-image prediction otherwise). Each request is still decoded and encoded on its own, so
a bad request gets its own 4xx and never affects the others; a prediction that fails for the joined records is
repeated request by request, so that each request gets the outcome it would have had alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_BATCH = 32  # requests joined into one prediction at most


class Work:
    """decode + predict + encode of one request: run whole (in a model thread, or alone on the event loop) or in
    its parts by a :class:`Batch`. Returns the response body and its media type."""

    def __init__(self, handler: Any, body: bytes, content_type: str, accept: str, headers: Mapping[str, str]):
        self.handler, self.body, self.headers = handler, body, headers
        self.content_type, self.accept = content_type, accept

    @property
    def batchable(self) -> bool:
        return bool(getattr(self.handler, "predicts_batches", False))

    def __call__(self) -> tuple[bytes, str]:
        return self.encode(self.handler.predict(self.decode()))

    def decode(self) -> Any:
        return self.handler.decode(self.body, self.content_type, self.headers)

    def encode(self, outputs: Any) -> tuple[bytes, str]:
        encoded = self.handler.encode(outputs, self.accept)
        return encoded if isinstance(encoded, tuple) else (encoded, self.accept)


class Batch:
    """Requests of one handler computed together on the event loop (see the module's docstring)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.items: list[tuple[Work, asyncio.Future[tuple[bytes, str]]]] = []

    def add(self, work: Work) -> asyncio.Future[tuple[bytes, str]]:
        answer: asyncio.Future[tuple[bytes, str]] = asyncio.get_running_loop().create_future()
        self.items.append((work, answer))
        return answer

    def run(self) -> None:
        """Computes every request and answers its future (a result, or the exception it raised)."""
        decoded: list[tuple[Work, asyncio.Future[tuple[bytes, str]], Any]] = []
        for work, answer in self.items:
            try:
                decoded.append((work, answer, work.decode()))
            except Exception as exc:  # the request's own outcome, answered to it alone
                _settle(answer, exc)
        outputs = self._predict_joined([inputs for _, _, inputs in decoded])
        for i, (work, answer, inputs) in enumerate(decoded):
            try:
                _settle(answer, None, work.encode(outputs[i] if outputs is not None else self.handler.predict(inputs)))
            except Exception as exc:  # as above
                _settle(answer, exc)

    def _predict_joined(self, inputs: list[Any]) -> list[Any] | None:
        """The outputs of each request from one prediction; ``None`` when the records cannot be joined or the
        joined prediction fails (each request is then predicted alone)."""
        if len(inputs) < 2:
            return None
        try:
            arrays = [np.asarray(x) for x in inputs]
            counts = [len(a) for a in arrays]
            outputs = np.asarray(self.handler.predict(np.concatenate(arrays)))
            if len(outputs) != sum(counts):
                return None
        except Exception:  # records of different shapes, or a prediction of the whole that fails
            return None
        return list(np.split(outputs, np.cumsum(counts)[:-1]))


def _settle(answer: asyncio.Future[Any], error: BaseException | None, result: Any = None) -> None:
    if answer.done():  # the request's coroutine was cancelled (the server is shutting down)
        return
    if error is None:
        answer.set_result(result)
    else:
        answer.set_exception(error)
