"""TestState-style unit tests of your own definitions, offline: one state, a mock, the API's verdict.

::

    from byoc_pipelines.testing import StateTester

    tester = StateTester.from_file("my-definition.json")

    def test_throttling_is_retried_after_ten_seconds() -> None:
        answer = tester.run("Train Model", {...}, error="SageMaker.AmazonSageMakerException", retry_count=1)
        assert (answer.status, answer.retry_index, answer.backoff_s) == ("RETRIABLE", 0, 10)

    def test_a_failed_job_is_caught() -> None:
        answer = tester.run("Train Model", {...}, error="States.TaskFailed")
        assert (answer.status, answer.next_state, answer.output["error"]["Error"]) == (
            "CAUGHT_ERROR", "Stop Training Job", "States.TaskFailed")

Each call is one TestState request (:func:`byoc_pipelines.teststate.test_state`), so the same test can be pointed
at AWS's API by sending :meth:`StateTester.request` with boto3 instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from byoc_pipelines.teststate import test_state


@dataclass(frozen=True)
class StateAnswer:
    """TestState's answer, its JSON strings decoded."""

    status: str
    next_state: str | None
    output: Any
    error: str | None
    cause: str | None
    inspection: dict[str, Any] = field(default_factory=dict)  # data flow, each step decoded
    error_details: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # the API's answer as it is

    @property
    def retry_index(self) -> int | None:
        return self.error_details.get("retryIndex")

    @property
    def backoff_s(self) -> int | None:
        return self.error_details.get("retryBackoffIntervalSeconds")

    @property
    def catch_index(self) -> int | None:
        return self.error_details.get("catchIndex")

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> StateAnswer:
        data = dict(raw.get("inspectionData") or {})
        details = dict(data.pop("errorDetails", {}))
        inspection = {key: json.loads(value) for key, value in data.items() if isinstance(value, str)}
        output = json.loads(raw["output"]) if "output" in raw else None
        return cls(
            str(raw["status"]),
            raw.get("nextState"),
            output,
            raw.get("error"),
            raw.get("cause"),
            inspection,
            details,
            dict(raw),
        )


@dataclass(frozen=True)
class StateTester:
    """Tests of the states of one definition (a whole state machine as JSON data)."""

    definition: Mapping[str, Any]

    @classmethod
    def from_file(cls, path: str | Path) -> StateTester:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def request(
        self,
        state: str,
        state_input: Any = None,
        *,
        result: Any = None,
        error: str | None = None,
        cause: str = "",
        retry_count: int | None = None,
        validation: str = "STRICT",
        context: Mapping[str, Any] | None = None,
        inspection_level: str = "DEBUG",
    ) -> dict[str, Any]:
        """The TestState request of one test: a mocked ``result``, or a mocked ``error`` (with ``cause``)."""
        request: dict[str, Any] = {
            "definition": json.dumps(self.definition),
            "stateName": state,
            "input": json.dumps(state_input if state_input is not None else {}),
            "inspectionLevel": inspection_level,
        }
        if error is not None:
            request["mock"] = {"errorOutput": {"error": error, "cause": cause}, "fieldValidationMode": validation}
        elif result is not None:
            request["mock"] = {"result": json.dumps(result), "fieldValidationMode": validation}
        if retry_count is not None:
            request["stateConfiguration"] = {"retrierRetryCount": retry_count}
        if context is not None:
            request["context"] = json.dumps(context)
        return request

    def run(self, state: str, state_input: Any = None, **mock: Any) -> StateAnswer:
        """Test ``state`` with ``state_input`` and the mock of :meth:`request`; the decoded answer."""
        return StateAnswer.of(test_state(self.request(state, state_input, **mock)))
