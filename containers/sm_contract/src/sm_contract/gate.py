"""Admission to one worker's model: a bounded queue, one deadline per request, no work for clients that hung up.

``concurrency`` threads of a dedicated executor compute; at most ``queue_size`` requests wait in its FIFO queue
(more are answered 503). A request has one deadline, set when it arrives: waiting and computing both count
against it, and at the deadline it is answered 504 (dropped if it has not started). A request abandoned while
computing keeps its thread busy, so it stays counted until that thread returns: the queue bound and the
hang-up watch of the next requests see the real load. While a request waits in the queue its connection is
watched, and a client that hangs up takes its request out before it is computed.

When the handler allows it (``runs_on_event_loop``), the model is idle and the request is predicted to take at
most ``inline_budget_s`` (from the measured times of earlier requests of its size class), it is computed on the
event loop instead: no thread hand-over each way, and while the loop computes, this worker accepts no new
connection, so the other workers take them. The budget is a small fraction of the timeout, so the event loop is
never held for long. A handler that may call back into its own server (over HTTP, as a TF Serving handler may)
must not allow it: the call would wait for the very loop it blocks. Small requests of a handler that predicts
batches (:mod:`sm_contract.batching`) that reach the event loop in the same turn are computed there together, one
prediction for all of them, while the model is otherwise idle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.types import Receive

from sm_contract.batching import MAX_BATCH, Batch, Work
from sm_contract.errors import ServerBusyError, TimedOutError

T = TypeVar("T")

SMALL_BYTES = 64 * 1024  # requests up to this size are timed as one class, larger ones per byte
INLINE_BUDGET_S = 0.25  # the longest a request may hold the event loop (also at most 1/8 of the timeout)
COST_WEIGHT = 0.2  # weight of the newest measurement in the moving averages of compute times


class ClientGone(Exception):
    """The client disconnected before its answer was computed: nothing to compute, nothing to report."""


@dataclass(frozen=True)
class GateStats:
    """What the gate has done so far; tests and the request log read it (:meth:`Gate.stats`)."""

    pending: int  # admitted and not finished: queued, computing, or abandoned but still computing
    waiting: int  # queued for a model thread
    computed: int  # computations that returned (on the loop or in a thread), abandoned ones included
    inline: int  # of those, computed on the event loop
    busy: int  # refused with 503: the queue was full
    timed_out: int  # answered 504
    dropped: int  # taken out of the queue before they started (timed out or client gone)
    gone: int  # clients that hung up while their request waited


class CostEstimate:
    """Moving averages of compute time: per request for small requests, per byte for large ones."""

    def __init__(self) -> None:
        self.small_s: float | None = None
        self.large_s_per_byte: float | None = None

    def predict(self, size: int) -> float | None:
        if size <= SMALL_BYTES:
            return self.small_s
        return None if self.large_s_per_byte is None else self.large_s_per_byte * size

    def observe(self, size: int, seconds: float) -> None:
        if size <= SMALL_BYTES:
            self.small_s = _average(self.small_s, seconds)
        else:
            self.large_s_per_byte = _average(self.large_s_per_byte, seconds / size)


def _average(current: float | None, new: float) -> float:
    return new if current is None else current + COST_WEIGHT * (new - current)


class Gate:
    """One worker's admission: see the module's docstring. Used from the event loop only, but for :meth:`stats`
    and :meth:`wait_until`, which any thread may call."""

    def __init__(
        self, concurrency: int, queue_size: int, timeout_s: float, inline_budget_s: float = INLINE_BUDGET_S
    ) -> None:
        self.concurrency, self.queue_size, self.timeout_s = concurrency, queue_size, timeout_s
        self.inline_budget_s = min(inline_budget_s, timeout_s / 8)
        self.executor = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="model")
        self.costs = CostEstimate()
        self.pending = self.computed = self.inline = self.busy = self.timed_out = self.dropped = self.gone = 0
        self._forming: Batch | None = None  # small requests joined on the event loop, computed in the next turn
        self._forming_done: asyncio.Future[None] | None = None  # resolved once that batch is computed
        self._changed = threading.Condition()
        self._observers = 0  # threads in wait_until: only then does a change take the lock to notify them

    @property
    def waiting(self) -> int:
        joined = len(self._forming.items) if self._forming is not None else 0  # one computation for all of them
        return max(0, self.pending - max(0, joined - 1) - self.concurrency)

    def stats(self) -> GateStats:
        return GateStats(
            self.pending, self.waiting, self.computed, self.inline, self.busy, self.timed_out, self.dropped, self.gone
        )

    def wait_until(self, predicate: Callable[[GateStats], bool], timeout_s: float) -> GateStats:
        """Blocks the calling thread (never the event loop's) until ``predicate(stats)`` holds; raises
        TimeoutError otherwise. For tests and tools that need to see the gate reach a state."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            self._observers += 1
            try:
                while not predicate(stats := self.stats()):
                    if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                        raise TimeoutError(f"the gate never reached the expected state; it is at {stats}")
                return stats
            finally:
                self._observers -= 1

    def _changed_state(self) -> None:
        if self._observers:
            with self._changed:
                self._changed.notify_all()

    def deadline(self) -> float:
        """The deadline of a request arriving now, on the event loop's clock."""
        return asyncio.get_running_loop().time() + self.timeout_s

    async def run(
        self, work: Callable[[], T], size: int, deadline: float, receive: Receive, on_loop: bool = False
    ) -> T:
        """``work()`` in a model thread, or on the event loop where ``on_loop`` allows it and it pays; 503 when the
        queue is full, 504 at ``deadline``."""
        if self.waiting >= self.queue_size:
            self.busy += 1
            self._changed_state()
            raise ServerBusyError(f"{self.waiting} requests are already waiting for this worker; retry later")
        if asyncio.get_running_loop().time() >= deadline:  # e.g. a body that took the whole timeout to arrive
            self.timed_out += 1
            self._changed_state()
            raise TimedOutError(f"the model server timeout ({self.timeout_s:g} s) passed before the request was read")
        predicted = self.costs.predict(size) if on_loop else None
        if predicted is not None and predicted <= self.inline_budget_s:
            if isinstance(work, Work) and work.batchable and size <= SMALL_BYTES and self._joinable(work, predicted):
                result: T = await self._join(work)
                return result
            if self.pending == 0:
                return self._inline(work, size)
        if self._forming_done is not None and not self._forming_done.done():
            await asyncio.shield(self._forming_done)  # one computation at a time: the forming batch goes first
        return await self._in_thread(work, size, deadline, receive)

    def _joinable(self, work: Work, predicted: float) -> bool:
        """A batch is forming for this handler with room left, or the model is idle and one can start."""
        batch = self._forming
        if batch is None:
            return self.pending == 0
        joined = len(batch.items) + 1
        return batch.handler is work.handler and joined <= MAX_BATCH and joined * predicted <= self.inline_budget_s

    async def _join(self, work: Work) -> Any:
        if self._forming is None:
            loop = asyncio.get_running_loop()
            self._forming, self._forming_done = Batch(work.handler), loop.create_future()
            loop.call_soon(self._compute_batch)
        self.pending += 1
        return await self._forming.add(work)

    def _compute_batch(self) -> None:
        """On the event loop, one turn after the batch's first request: every request that joined it meanwhile."""
        batch, self._forming = self._forming, None
        if batch is None:
            return
        started = time.perf_counter()
        try:
            batch.run()
        finally:
            if self._forming_done is not None:
                self._forming_done.set_result(None)
            for _, answer in batch.items:  # only if the batch itself broke off: the request gets a 500, never hangs
                if not answer.done():
                    answer.set_exception(RuntimeError("the batch this request joined ended without its answer"))
            count = len(batch.items)
            per_request = (time.perf_counter() - started) / count
            for work, _ in batch.items:
                self.costs.observe(len(work.body), per_request)
            self.pending -= count
            self.computed += count
            self.inline += count
            self._changed_state()

    def _inline(self, work: Callable[[], T], size: int) -> T:
        self.pending += 1
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.costs.observe(size, time.perf_counter() - started)
            self.pending -= 1
            self.computed += 1
            self.inline += 1
            self._changed_state()

    async def _in_thread(self, work: Callable[[], T], size: int, deadline: float, receive: Receive) -> T:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        queued = self.pending >= self.concurrency
        self.pending += 1
        future = self.executor.submit(self._job, loop, answer, work, size)
        self._changed_state()
        timer = loop.call_at(deadline, _expire, answer)
        watcher = _watch_hang_up(receive, answer) if queued else None  # a free thread starts at once: no watch
        try:
            return await answer
        except (TimedOutError, ClientGone, asyncio.CancelledError) as exc:
            self._abandon(future, exc)
            if isinstance(exc, TimedOutError):
                raise TimedOutError(
                    f"the model server timeout ({self.timeout_s:g} s) passed; the request was "
                    + ("dropped before it started" if future.cancelled() else "abandoned")
                ) from None
            raise
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()

    def _abandon(self, future: concurrent.futures.Future[None], reason: BaseException) -> None:
        """A queued job is dropped (and no longer counted); a running one stays counted until its thread returns."""
        if future.cancel():
            self.pending -= 1
            self.dropped += 1
        self.gone += isinstance(reason, ClientGone)
        self.timed_out += isinstance(reason, TimedOutError)
        self._changed_state()

    def _job(
        self, loop: asyncio.AbstractEventLoop, answer: asyncio.Future[T], work: Callable[[], T], size: int
    ) -> None:
        """In a model thread: compute, then hand the outcome to the event loop (one hand-over back)."""
        started = time.perf_counter()
        try:
            result: Any = work()
            error: BaseException | None = None
        except BaseException as exc:  # handed to the request's coroutine, which answers it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while this computed (shutdown): nobody waits
            loop.call_soon_threadsafe(self._finished, answer, result, error, size, time.perf_counter() - started)

    def _finished(
        self, answer: asyncio.Future[T], result: T, error: BaseException | None, size: int, seconds: float
    ) -> None:
        self.costs.observe(size, seconds)
        self.pending -= 1
        self.computed += 1
        self._changed_state()
        if not answer.done():
            if error is None:
                answer.set_result(result)
            else:
                answer.set_exception(error)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(TimedOutError("the deadline passed"))


def _watch_hang_up(receive: Receive, answer: asyncio.Future[Any]) -> asyncio.Task[None]:
    """A task that fails ``answer`` with ClientGone when the client hangs up (the body was read already, so the
    next message can only be the disconnect)."""

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not answer.done():
            answer.set_exception(ClientGone())

    return asyncio.ensure_future(watch())
