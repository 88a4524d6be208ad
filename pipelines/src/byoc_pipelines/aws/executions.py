"""Start a Step Functions execution, follow its history event by event, and report the outcome.

Works with any ``stepfunctions`` client: AWS, or moto's interpreter for local runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from byoc_pipelines.errors import ExecutionFailedError

DETAIL_CHARS = 160  # one event per line; long JSON is cut
_DETAIL_FIELDS = ("name", "resource", "error", "cause", "output", "parameters", "input")


def start(sfn: Any, state_machine_arn: str, name: str, execution_input: Mapping[str, Any]) -> str:
    """Start an execution with an explicit name (job and model names derive from it)."""
    response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
    return str(response["executionArn"])


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def format_event(event: Mapping[str, Any]) -> str:
    """``#5 TaskSucceeded resource=createTrainingJob.sync output={...}`` (one line)."""
    details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, Mapping)), {})
    parts = [f"#{event['id']}", str(event["type"])]
    keys = ("name",) if "name" in details else _DETAIL_FIELDS  # state entered/exited: the name says enough
    parts += [f"{key}={_short(details[key])}" for key in keys if key in details]
    return " ".join(parts)


def _one_line(event: Mapping[str, Any]) -> Iterable[str]:
    return [format_event(event)]


def follow(
    sfn: Any,
    execution_arn: str,
    emit: Callable[[str], None],
    *,
    poll_s: float = 1.0,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    lines: Callable[[Mapping[str, Any]], Iterable[str]] = _one_line,
) -> dict[str, Any]:
    """Emit the ``lines`` of each new history event until the execution ends; return ``describe_execution``."""
    seen = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        events = history(sfn, execution_arn)
        for event in events[seen:]:
            for line in lines(event):
                emit(line)
        seen = len(events)
        if described["status"] != "RUNNING":
            return described
        if deadline is not None and time.monotonic() > deadline:
            raise ExecutionFailedError(f"execution {execution_arn} still RUNNING after {timeout_s:.0f} s")
        sleep(poll_s)


def outcome(described: Mapping[str, Any]) -> dict[str, Any]:
    """The output of a SUCCEEDED execution; otherwise :class:`ExecutionFailedError` with error and cause."""
    if described["status"] == "SUCCEEDED":
        return json.loads(described.get("output") or "{}")  # type: ignore[no-any-return]
    error, cause = described.get("error", ""), described.get("cause", "")
    raise ExecutionFailedError(f"execution {described['status']}: {error} {_short(cause)}".strip())


def state_names(events: list[dict[str, Any]]) -> Iterator[str]:
    """Names of the states entered, in order (for tests and summaries)."""
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            yield details["name"]
