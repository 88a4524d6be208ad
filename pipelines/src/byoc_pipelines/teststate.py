"""The TestState API, offline: one state of a definition evaluated with a mock, no credentials, no network.

:func:`test_state` takes the request boto3's ``sfn.test_state(**request)`` takes (``definition`` and ``input`` as
JSON strings, ``stateName``, ``mock`` with ``result`` or ``errorOutput`` and ``fieldValidationMode``,
``inspectionLevel``, ``stateConfiguration.retrierRetryCount``, ``context``) and answers as the API does
(Step Functions API reference, ``TestState``): ``status`` SUCCEEDED, FAILED, RETRIABLE or CAUGHT_ERROR,
``nextState``, ``output``, ``error``, ``cause``, and ``inspectionData`` (at DEBUG and TRACE the data flow:
``input``, ``afterInputPath``, ``afterParameters``, ``result``, ``afterResultSelector``, ``afterResultPath``; at
every level ``errorDetails`` with ``retryIndex`` and ``retryBackoffIntervalSeconds``, or ``catchIndex``).

The evaluation is moto's: its TestState parser (which records the inspection data as each path is applied), its
task classes (ours for SageMaker, Lambda and aws-sdk), its mocked-response machinery, its ``ErrorEquals`` and
``Catch`` components. Only the decision after an error is made here, as TestState defines it: the first retrier
whose ``ErrorEquals`` matches makes the state RETRIABLE while ``retrierRetryCount`` is below its ``MaxAttempts``
(backoff ``IntervalSeconds`` x ``BackoffRate`` ^ count, at most ``MaxDelaySeconds``; jitter is left out), else
the first matching catcher makes it CAUGHT_ERROR, else it FAILED. A mocked ``result`` is checked against the
integration's output shape first, as TestState does; a state TestState could only run against AWS (a Task
without a mock, Map, Parallel) is refused.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, Final

from moto.stepfunctions.parser.api import StateMachineType
from moto.stepfunctions.parser.asl.component.common.catch.catcher_outcome import CatcherOutcomeCaught
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.wait.state_wait import StateWait
from moto.stepfunctions.parser.asl.eval.evaluation_details import AWSExecutionDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.states import ExecutionData, StateMachineData
from moto.stepfunctions.parser.asl.eval.test_state.environment import TestStateEnvironment
from moto.stepfunctions.parser.asl.eval.test_state.program_state import ProgramChoiceSelected
from moto.stepfunctions.parser.asl.parse.test_state.asl_parser import TestStateAmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
)

from byoc_pipelines.asl.arns import result_operation
from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.local.stepfunctions import adapter
from byoc_pipelines.local.tasks import Integrations, rebind_with
from byoc_pipelines.logs import quiet
from byoc_pipelines.sagemaker.runner import client_error
from byoc_pipelines.sagemaker.shapes import FieldValidationMode, request_errors, result_errors

STATE: Final = "TestState"  # the name moto's TestState parser gives the state
ROLE_ARN: Final = "arn:aws:iam::123456789012:role/byoc-test-state"
EXECUTION_ARN: Final = "arn:aws:states:us-east-1:123456789012:execution:TestState:test-state"
SUPPORTED: Final = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail"}
MOTO_LOGGER: Final = "moto.stepfunctions.parser"
FLOW: Final = ("input", "afterInputPath", "afterParameters", "result", "afterResultSelector", "afterResultPath")


class TestStateError(ConfigurationError):
    """A request TestState would refuse (a ValidationException on AWS), or one it can answer only online."""

    __test__ = False  # not a pytest test class


class _Decided(Exception):
    """How an erroring state ends under TestState: RETRIABLE, CAUGHT_ERROR or FAILED."""

    def __init__(self, status: str, error: str, cause: str, **details: Any) -> None:
        super().__init__(status)
        self.status, self.error, self.cause, self.details = status, error, cause, details


class _Offline:
    """The runner behind an unmocked Task: there is no service to call."""

    def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        raise client_error("ValidationException", f"{operation}: no service offline; give a mock", operation)


def _state_of(request: Mapping[str, Any]) -> dict[str, Any]:
    try:
        definition = json.loads(request["definition"])
    except ValueError as exc:
        raise TestStateError(f"definition is not JSON: {exc}") from exc
    name = request.get("stateName")
    if "States" not in definition:
        return dict(definition)
    if not name or name not in definition["States"]:
        raise TestStateError(f"stateName {name!r} is not a state of the definition: {', '.join(definition['States'])}")
    return dict(definition["States"][name])


def _mocked(state: Mapping[str, Any], mock: Mapping[str, Any] | None, retries: int) -> MockTestCase | None:
    """The mock as moto's test case (one response for every attempt up to ``retries``), checked first."""
    if state["Type"] != "Task":
        return None
    if not mock:
        raise TestStateError("a Task state needs a mock here: offline there is no service to call")
    response: MockedResponse
    if "errorOutput" in mock:
        failure = mock["errorOutput"]
        response = MockedResponseThrow(0, retries, str(failure.get("error", "")), str(failure.get("cause", "")))
    else:
        result = json.loads(mock["result"])
        mode = FieldValidationMode(mock.get("fieldValidationMode", "STRICT"))
        service, operation = result_operation(state["Resource"])
        problems = result_errors(service, operation, result, mode)
        if problems:
            raise TestStateError(f"mock.result does not match {service} {operation}: {'; '.join(problems)}")
        response = MockedResponseReturn(0, retries, result)
    return MockTestCase(STATE, STATE, [StateMockedResponses(STATE, "mock", [response])])


def _environment(request: Mapping[str, Any]) -> TestStateEnvironment:
    state_input = json.loads(request.get("input") or "{}")
    context: dict[str, Any] = json.loads(request.get("context") or "{}")
    execution = ExecutionData(
        Id=EXECUTION_ARN,
        Input=state_input,
        Name="test-state",
        RoleArn=request.get("roleArn") or ROLE_ARN,
        StartTime=datetime.datetime.now(datetime.UTC).isoformat(),
    )
    execution.update(context.get("Execution", {}))
    machine = StateMachineData(Id=EXECUTION_ARN.rsplit(":", 1)[0], Name=STATE)
    context_object: Any = {"Execution": execution, "StateMachine": machine}  # State, Task, Map come as they apply
    return TestStateEnvironment(
        aws_execution_details=AWSExecutionDetails(account="123456789012", region="us-east-1", role_arn=ROLE_ARN),
        execution_type=StateMachineType.STANDARD,
        context=context_object,
        event_history_context=EventHistoryContext.of_program_start(),
        activity_store={},
    )


def _retriable(field: Any, env: Any, failure: Any, count: int) -> dict[str, Any] | None:
    """errorDetails of a RETRIABLE state, or None when no retrier applies or the one that does is exhausted."""
    for index, retrier in enumerate(field.retry.retriers if field.retry else []):
        env.stack.append(failure.error_name)
        retrier.error_equals.eval(env)
        if not env.stack.pop():
            continue
        if count >= retrier.max_attempts.attempts:
            return None
        wait = retrier.interval_seconds.seconds * retrier.backoff_rate.rate**count
        wait = min(wait, retrier.max_delay_seconds.max_delays_seconds)
        return {"retryIndex": index, "retryBackoffIntervalSeconds": round(wait)}
    return None


def _decide(field: Any, env: Any, count: int) -> None:
    """The state's evaluation with TestState's verdict on an error instead of moto's retry loop."""
    env.states.context_object.context_object_data["State"]["RetryCount"] = count
    try:
        field._evaluate_with_timeout(env)
        return
    except Exception as exc:  # any error of the state: its failure event says which
        failure = field._from_error(env=env, ex=exc)
    error_output = field._construct_error_output_value(failure)
    error, cause = str(error_output["Error"]), str(error_output["Cause"])
    env.states.set_error_output(error_output)
    retry = _retriable(field, env, failure, count)
    if retry is not None:
        raise _Decided("RETRIABLE", error, cause, **retry)
    for index, catcher in enumerate(field.catch.catchers if field.catch else []):
        env.stack.append(failure)
        catcher.eval(env)
        if isinstance(env.stack.pop(), CatcherOutcomeCaught):
            output = to_json_str(env.states.get_input())
            raise _Decided("CAUGHT_ERROR", error, cause, catchIndex=index, next=env.next_state_name, output=output)
    raise _Decided("FAILED", error, cause)


def _inspection(env: TestStateEnvironment, state: Mapping[str, Any], level: str) -> dict[str, Any]:
    """The data flow in order, each step defaulting to the one before when the state has no such field."""
    recorded = dict(env.inspection_data)
    if level == "INFO":
        return {}
    found: dict[str, Any] = {}
    previous = recorded.get("input")
    for key in FLOW:
        value = recorded.get(key, previous if key != "result" else None)
        if value is not None:
            found[key] = value
            previous = value
    if "afterParameters" in found and "Parameters" in state:  # moto leaves some "Key.$" bindings to our tasks
        data = json.loads(found.get("afterInputPath", found["input"]))
        context = env.states.context_object.context_object_data
        found["afterParameters"] = to_json_str(rebind_with(json.loads(found["afterParameters"]), data, context))
    return found


def test_state(request: Mapping[str, Any]) -> dict[str, Any]:
    """TestState's answer to ``request`` (boto3's keyword arguments of ``sfn.test_state``)."""
    problems = request_errors("TestState", request, service="stepfunctions")
    if problems:
        raise TestStateError("; ".join(problems))
    state = _state_of(request)
    if state.get("Type") not in SUPPORTED:
        raise TestStateError(f"a {state.get('Type')} state is not supported offline (supported: {sorted(SUPPORTED)})")
    count = int((request.get("stateConfiguration") or {}).get("retrierRetryCount", 0))
    level = str(request.get("inspectionLevel", "INFO"))
    env = _environment(request)
    env.mock_test_case = _mocked(state, request.get("mock"), count)
    with adapter(Integrations(_Offline())), quiet(MOTO_LOGGER):  # moto builds task classes while it parses
        program: Any = TestStateAmazonStateLanguageParser.parse(json.dumps(state))[0]
        field = program.test_state
        env.inspection_data["input"] = to_json_str(env.states.get_input())
        env.next_state_name = field.name
        if isinstance(field, ExecutionState):  # TestState's verdict on an error, instead of moto's retry loop
            setattr(field, "_eval_state", lambda inner: _decide(field, inner, count))  # noqa: B010
        if isinstance(field, StateWait):  # TestState does not wait
            setattr(field, "_eval_state", lambda inner: None)  # noqa: B010
        answer = _evaluate(field, env)
    inspection = {**_inspection(env, state, level), **answer.pop("errorDetails", {})}
    if inspection:
        answer["inspectionData"] = inspection
    return answer


def _evaluate(field: Any, env: TestStateEnvironment) -> dict[str, Any]:
    try:
        field.eval(env)
    except _Decided as decided:
        answer: dict[str, Any] = {"status": decided.status, "error": decided.error, "cause": decided.cause}
        details = {key: value for key, value in decided.details.items() if key not in ("next", "output")}
        if "next" in decided.details:
            answer |= {"nextState": decided.details["next"], "output": decided.details["output"]}
        return {**answer, "errorDetails": {"errorDetails": details}}
    except FailureEventException as exc:  # a Fail state, or an error outside Retry and Catch
        failed = exc.get_execution_failed_event_details() or {}
        return {"status": "FAILED", "error": failed.get("error", ""), "cause": failed.get("cause", "")}
    answer = {"status": "SUCCEEDED", "output": to_json_str(env.states.get_input())}
    program_state = env.program_state()
    chosen = program_state.next_state_name if isinstance(program_state, ProgramChoiceSelected) else None
    next_state = chosen or env.next_state_name
    if next_state and next_state != field.name:
        answer["nextState"] = next_state
    return answer


test_state.__test__ = False  # type: ignore[attr-defined]  # a user's test module imports it: not a test itself
