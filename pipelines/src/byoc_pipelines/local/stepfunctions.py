"""Run our definitions on moto's Step Functions interpreter, with SageMaker and Lambda tasks routed to Python.

moto runs executions (``execute_state_machine``) but rejects ``sagemaker:*.sync`` and has no extension point
for task integrations. :func:`adapter` swaps the task factory ``state_task_service_for`` *as imported by*
moto's ``state_task_factory`` module for one returning the classes of :mod:`byoc_pipelines.local.tasks`; every
other integration stays moto's. moto re-syncs this interpreter from LocalStack, so ``moto`` is pinned and a test
asserts the patched paths still exist.

More seams, moto's own machinery switched on or put right: a mock test case (:mod:`byoc_pipelines.local.mocks`) is
handed to the execution worker, whose interpreter then answers the mocked states from it; a mocked ``Throw`` may
name a ``States.*`` error (moto's port accepts custom names only; Step Functions Local and TestState take both);
``ErrorEquals`` matches as AWS documents it (:mod:`byoc_pipelines.asl.errors`: moto's ``States.ALL`` also
catches ``States.Runtime``, its ``States.TaskFailed`` misses other ``States.*`` errors); and the sleep of moto's
retrier is scaled by ``retry_wait_scale``, so a test or a demo need not wait out a Retry's backoff.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType, SimpleNamespace
from typing import Any, Final

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.mocking.mock_config import MockedResponseThrow, MockTestCase

from byoc_pipelines.asl.errors import matches
from byoc_pipelines.aws import executions
from byoc_pipelines.local.tasks import TASK_CLASSES, Integrations

FACTORY_MODULE: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory"
FACTORY_NAME: Final = "state_task_service_for"
EXECUTION_MODULE: Final = "moto.stepfunctions.parser.backend.execution"  # Execution._get_start_execution_worker
RETRIER_MODULE: Final = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"  # its time.sleep
MOCK_MODULE: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils"
ERROR_EQUALS_MODULE: Final = "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl"
LOCAL_ROLE_ARN: Final = "arn:aws:iam::123456789012:role/byoc-local-execution"

__all__ = ["FACTORY_MODULE", "Integrations", "adapter", "execute", "factory_module"]


def factory_module() -> ModuleType:
    """The module whose ``state_task_service_for`` we replace; fails loudly when moto moves it."""
    module = importlib.import_module(FACTORY_MODULE)
    if not callable(getattr(module, FACTORY_NAME, None)):
        raise RuntimeError(f"{FACTORY_MODULE}.{FACTORY_NAME} is gone: the adapter needs updating for this moto")
    return module


@contextlib.contextmanager
def _patched(module: ModuleType, name: str, value: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def _error_equals(self: Any, env: Any) -> None:
    """moto's ``ErrorEqualsDecl._eval_body`` with Step Functions' matching rules."""
    error = env.stack.pop()
    env.stack.append(matches(error.error_name, [name.error_name for name in self.error_names]))


def _throw(env: Any, mocked_response: MockedResponseThrow) -> None:
    """A mocked Throw as the task's failure, ``States.*`` names included."""
    error = mocked_response.error
    name: ErrorName = StatesErrorName.from_name(error) if error.startswith("States.") else CustomErrorName(error)
    details = TaskFailedEventDetails(error=error, cause=mocked_response.cause)
    event_details = EventDetails(taskFailedEventDetails=details)  # type: ignore[typeddict-item]
    raise FailureEventException(FailureEvent(env, name, HistoryEventType.TaskFailed, event_details))


@contextlib.contextmanager
def adapter(
    integrations: Integrations, *, mocks: MockTestCase | None = None, retry_wait_scale: float = 1.0
) -> Iterator[None]:
    """Route SageMaker, aws-sdk:sagemaker and Lambda tasks to ``integrations`` while the block runs.

    ``mocks`` answers the states it names (every execution started in the block); ``retry_wait_scale`` multiplies
    every Retry's wait (0.01: 5 s become 50 ms). Create and start state machines inside the block: moto builds
    the task objects when it parses a definition.
    """
    module = factory_module()
    original = getattr(module, FACTORY_NAME)

    def state_task_service_for(service_name: str) -> Any:
        if service_name in TASK_CLASSES:
            return TASK_CLASSES[service_name](integrations)
        return original(service_name)

    execution = importlib.import_module(EXECUTION_MODULE).Execution
    start_worker = execution._get_start_execution_worker

    def worker_with_mocks(self: Any) -> Any:
        worker = start_worker(self)
        worker._mock_test_case = mocks  # what moto's provider would load from SFN_MOCK_CONFIG
        return worker

    retrier = importlib.import_module(RETRIER_MODULE)
    scaled = SimpleNamespace(sleep=lambda seconds: time.sleep(seconds * retry_wait_scale))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(module, FACTORY_NAME, state_task_service_for))
        stack.enter_context(_patched(importlib.import_module(MOCK_MODULE), "_eval_mocked_response_throw", _throw))
        error_equals = importlib.import_module(ERROR_EQUALS_MODULE).ErrorEqualsDecl
        stack.enter_context(_patched(error_equals, "_eval_body", _error_equals))
        if mocks is not None:
            stack.enter_context(_patched(execution, "_get_start_execution_worker", worker_with_mocks))
        if retry_wait_scale != 1.0:
            stack.enter_context(_patched(retrier, "time", scaled))
        yield


def execute(
    definition: Mapping[str, Any],
    execution_input: Mapping[str, Any],
    integrations: Integrations,
    *,
    name: str,
    emit: Callable[[str], None] | None = None,
    region: str = "us-east-1",
    poll_s: float = 0.5,
    timeout_s: float | None = None,
    mocks: MockTestCase | None = None,
    retry_wait_scale: float = 1.0,
    lines: Callable[[Mapping[str, Any]], Iterable[str]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``definition`` once on moto's interpreter with the adapter; ``(describe_execution, history)``.

    Everything happens inside ``mock_aws``, so no call leaves the process for AWS; it nests in a caller's own
    ``mock_aws`` (whose backends, e.g. moto's SageMaker, the integrations may then use). ``lines`` turns each
    history event into console lines for ``emit`` (:class:`byoc_pipelines.history.HistoryView`).
    """
    engine = adapter(integrations, mocks=mocks, retry_wait_scale=retry_wait_scale)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), engine:
        sfn = boto3.client("stepfunctions", region_name=region)
        machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN)
        execution_arn = executions.start(sfn, machine["stateMachineArn"], name, execution_input)
        follow: dict[str, Any] = {"poll_s": poll_s, "timeout_s": timeout_s}
        if lines is not None:
            follow["lines"] = lines
        described = executions.follow(sfn, execution_arn, emit or (lambda _line: None), **follow)
        return described, executions.history(sfn, execution_arn)
