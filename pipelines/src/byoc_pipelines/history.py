"""What the console shows of an execution's history: one line per event, with retries, catches and mocks spelt out.

Step Functions' history has no event for a retry or a catch: a ``TaskFailed`` is followed by the same state's
``TaskScheduled`` (a retry, after the Retry's wait) or by another state's ``...StateEntered`` (a catch). This view
adds those lines, with the wait the matching retrier asks for (``IntervalSeconds`` x ``BackoffRate`` ^ n, at most
``MaxDelaySeconds``, as the Amazon States Language specifies), and marks the events of mocked states::

    #12 TaskFailed resource=createTrainingJob.sync error=SageMaker.AmazonSageMakerException cause=...
        -> retry 1 of 3 of Train Model in 5 s (SageMaker.AmazonSageMakerException)
    #13 TaskScheduled resource=createTrainingJob.sync parameters={...}
    ...
    #20 TaskFailed resource=createTrainingJob.sync error=States.TaskFailed cause=...
        -> caught States.TaskFailed in Train Model: next Stop Training Job
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.asl.errors import matches
from byoc_pipelines.aws.executions import format_event

HAPPY_JOB = "Starting > Training > Uploading > Completed"
_SETTLED = ("TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded")  # a failure before these was retried


def backoff_seconds(retrier: Mapping[str, Any], retry_count: int) -> float:
    """The wait before retry ``retry_count + 1`` of ``retrier`` (no jitter)."""
    interval = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** retry_count
    return min(interval, float(retrier.get("MaxDelaySeconds", interval)))


def states_of(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every state by name, those of Map item processors and Parallel branches too."""
    found: dict[str, Mapping[str, Any]] = {}
    for name, state in definition.get("States", {}).items():
        found[name] = state
        for inner in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if inner:
                found |= states_of(inner)
    return found


@dataclass
class HistoryView:
    """Console lines of history events, in order; feed every event once (see :meth:`lines`)."""

    definition: Mapping[str, Any]
    mocked: Collection[str] = ()
    _state: str = ""
    _failed: str | None = None  # the error of the last TaskFailed, until the next event decides its fate
    _failed_in: str = ""
    _retries: dict[tuple[str, int], int] = field(default_factory=dict)  # per state and retrier, as ASL counts

    def lines(self, event: Mapping[str, Any]) -> Iterator[str]:
        kind = str(event["type"])
        entered = event.get("stateEnteredEventDetails")
        if self._failed is not None and kind == "TaskScheduled" and self._failed_in == self._state:
            yield self._retry_line()
        elif self._failed is not None and entered and entered["name"] != self._failed_in:
            yield f"    -> caught {self._failed} in {self._failed_in}: next {entered['name']}"
        if kind in _SETTLED:
            self._failed = None
        if entered:
            self._state, self._failed = entered["name"], None
            self._retries = {key: count for key, count in self._retries.items() if key[0] != self._state}
        if kind == "TaskFailed":
            self._failed, self._failed_in = event["taskFailedEventDetails"].get("error", ""), self._state
        line = format_event(event)
        mocked = self._state in self.mocked and kind.startswith("Task")
        yield f"{line} (mocked)" if mocked else line
        if kind in ("TaskSucceeded", "TaskFailed") and not mocked:
            yield from _job_story(event)

    def _retry_line(self) -> str:
        state = states_of(self.definition).get(self._state, {})
        error = self._failed or ""
        retriers: list[tuple[int, Mapping[str, Any]]] = list(enumerate(state.get("Retry", [])))
        empty: Mapping[str, Any] = {}
        index, retrier = next(((i, r) for i, r in retriers if matches(error, r.get("ErrorEquals", []))), (-1, empty))
        count = self._retries.get((self._state, index), 0)
        self._retries[(self._state, index)] = count + 1
        wait = backoff_seconds(retrier, count) if retrier else 0.0
        attempts = retrier.get("MaxAttempts", 3)
        return f"    -> retry {count + 1} of {attempts} of {self._state} in {wait:g} s ({error})"


def _job_story(event: Mapping[str, Any]) -> Iterator[str]:
    """A ``.sync`` job's secondary statuses, from the description a TaskSucceeded or TaskFailed carries."""
    details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, Mapping)), {})
    try:
        described = json.loads(details.get("output") or details.get("cause") or "")
    except ValueError:
        return
    transitions = described.get("SecondaryStatusTransitions") if isinstance(described, dict) else None
    if not transitions:
        return
    statuses = " > ".join(str(item.get("Status")) for item in transitions)
    if statuses == HAPPY_JOB:
        return  # nothing to tell beyond TaskSucceeded
    yield f"    -> {described.get('TrainingJobName', 'job')}: {statuses}"
    for item in transitions:
        if item.get("Status") in ("Interrupted", "Restarting") or "restored" in str(item.get("StatusMessage", "")):
            yield f"       {item.get('Status')}: {item.get('StatusMessage')}"
    if described.get("FailureReason"):
        yield f"       FailureReason: {described['FailureReason']}"
