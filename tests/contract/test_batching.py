"""Small requests that reach a worker's event loop together are predicted in one call, each answered as if alone."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from sm_contract import codecs
from sm_contract.batching import MAX_BATCH, Work
from sm_contract.errors import InvalidPayloadError, ServerBusyError
from sm_contract.gate import Gate

JSON = "application/json"


class RowHandler:
    """Sums each row of a JSON list of rows; ``"bad"`` is a bad request; records every prediction's row count."""

    content_types = (JSON,)
    accept_types = (JSON,)
    runs_on_event_loop = True
    predicts_batches = True

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail_joined = False  # a prediction of more than one row fails (a model that cannot batch after all)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        rows = codecs.load_json(body)
        if rows == "bad":
            raise InvalidPayloadError("a bad request")
        return np.asarray(rows, dtype=np.float64)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(rows))
        if self.fail_joined and len(rows) > 1:
            raise RuntimeError("this model predicts one row at a time")
        result: np.ndarray = rows.sum(axis=1)
        return result

    def encode(self, outputs: np.ndarray, accept: str) -> bytes:
        return codecs.dump_json(outputs.tolist())


async def _never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def _together(handler: RowHandler, bodies: list[bytes], queue_size: int = 8) -> tuple[list[Any], Gate]:
    """Each body as a request reaching the gate in the same turn of the event loop, after one that timed the model
    (the first request of a worker is computed in a model thread: its cost is not known yet)."""
    gate = Gate(1, queue_size, timeout_s=30)

    async def one(body: bytes) -> Any:
        work = Work(handler, body, JSON, JSON, {})
        return await gate.run(work, len(body), gate.deadline(), _never_disconnects, on_loop=True)

    try:
        await one(b"[[0]]")
        handler.calls.clear()
        return list(await asyncio.gather(*(one(b) for b in bodies), return_exceptions=True)), gate
    finally:
        gate.close()


def _bodies(rows_per_request: list[int]) -> list[bytes]:
    start, out = 0, []
    for n in rows_per_request:
        out.append(codecs.dump_json([[start + i, 1] for i in range(n)]))
        start += n
    return out


def test_requests_that_arrive_together_are_predicted_in_one_call() -> None:
    handler = RowHandler()
    answers, gate = asyncio.run(_together(handler, _bodies([1, 2, 1, 3])))
    assert [codecs.load_json(body) for body, _ in answers] == [[1], [2, 3], [4], [5, 6, 7]]
    assert {media for _, media in answers} == {JSON}
    assert handler.calls == [7]
    assert gate.stats().inline == 4 and gate.stats().pending == 0


def test_a_bad_request_gets_its_own_error_and_the_others_their_answers() -> None:
    handler = RowHandler()
    bodies = _bodies([1, 1])
    answers, _ = asyncio.run(_together(handler, [bodies[0], b'"bad"', bodies[1]]))
    assert codecs.load_json(answers[0][0]) == [1]
    assert isinstance(answers[1], InvalidPayloadError)
    assert codecs.load_json(answers[2][0]) == [2]
    assert handler.calls == [2]


def test_a_joined_prediction_that_fails_is_repeated_request_by_request() -> None:
    handler = RowHandler()
    handler.fail_joined = True
    answers, _ = asyncio.run(_together(handler, _bodies([1, 1, 1])))
    assert [codecs.load_json(body) for body, _ in answers] == [[1], [2], [3]]
    assert handler.calls == [3, 1, 1, 1]


def test_a_handler_that_does_not_declare_it_is_predicted_request_by_request() -> None:
    handler = RowHandler()
    handler.predicts_batches = False
    answers, gate = asyncio.run(_together(handler, _bodies([1, 2, 1])))
    assert [codecs.load_json(body) for body, _ in answers] == [[1], [2, 3], [4]]
    assert handler.calls == [1, 2, 1]
    assert gate.stats().pending == 0


def test_a_batch_holds_at_most_max_batch_requests() -> None:
    handler = RowHandler()
    count = MAX_BATCH + 5
    answers, _ = asyncio.run(_together(handler, _bodies([1] * count), queue_size=count))
    assert [codecs.load_json(body) for body, _ in answers] == [[i + 1] for i in range(count)]
    assert max(handler.calls) == MAX_BATCH and sum(handler.calls) == count


@pytest.mark.parametrize("queue_size", [1, 2])
def test_a_batch_counts_as_one_computation_against_the_queue_bound(queue_size: int) -> None:
    """Requests joined into the forming batch are not waiting: the queue bound still applies to the others."""
    handler = RowHandler()
    answers, gate = asyncio.run(_together(handler, _bodies([1] * 6), queue_size=queue_size))
    assert not any(isinstance(a, ServerBusyError) for a in answers)
    assert handler.calls == [6]
    assert gate.stats().busy == 0
