"""Run our definitions on moto's Step Functions interpreter with SageMaker and Lambda tasks routed to Python.

moto runs executions (``execute_state_machine``) but rejects ``sagemaker:*.sync`` and has no extension point
for task integrations. :func:`adapter` swaps the task factory ``state_task_service_for`` *as imported by*
moto's ``state_task_factory`` module for one returning our task classes:

* ``arn:aws:states:::sagemaker:<action>[.sync]`` -> ``runner.call("<Action>", parameters)``; ``.sync`` polls
  ``Describe{Training,Transform}Job`` until the job ends, and a Failed/Stopped job is ``States.TaskFailed``
  with the description as cause; a botocore ``ClientError`` is ``SageMaker.AmazonSageMakerException``;
* ``arn:aws:states:::aws-sdk:sagemaker:<action>`` -> the same runner;
* ``arn:aws:states:::lambda:invoke`` -> a Python callable looked up by ``FunctionName``.

Every other integration stays moto's. moto re-syncs this interpreter from LocalStack, so ``moto`` is pinned
and a test asserts the patched path still exists.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

FACTORY_MODULE: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory"
FACTORY_NAME: Final = "state_task_service_for"
SAGEMAKER_ERROR: Final = "SageMaker.AmazonSageMakerException"  # what AWS names SageMaker API errors
# .sync jobs: (describe operation, name field, status field)
_SYNC_DESCRIBE: Final = {
    "createTrainingJob": ("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus"),
    "createTransformJob": ("DescribeTransformJob", "TransformJobName", "TransformJobStatus"),
}
_RUNNING: Final = {"InProgress", "Stopping"}


class SageMakerRunner(Protocol):
    """Anything that takes AWS-shaped SageMaker requests: a local-mode runner, a fake, a boto3 wrapper."""

    def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any] | None: ...


LambdaFunction = Callable[[Any], Any]


@dataclass
class Integrations:
    """Where the adapted tasks go: SageMaker requests to ``sagemaker``, ``lambda:invoke`` to ``functions``."""

    sagemaker: SageMakerRunner
    functions: Mapping[str, LambdaFunction] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """A runner's answer as JSON data (the SDK's local client returns datetimes)."""

    def convert(item: Any) -> Any:
        if isinstance(item, datetime.datetime | datetime.date):
            return item.isoformat()
        raise TypeError(f"not JSON serialisable: {type(item).__name__}")

    return json.loads(json.dumps(value or {}, default=convert))


def operation_of(action: str) -> str:
    return action[:1].upper() + action[1:]


def factory_module() -> Any:
    """The module whose ``state_task_service_for`` we replace; fails loudly when moto moves it."""
    module = importlib.import_module(FACTORY_MODULE)
    if not callable(getattr(module, FACTORY_NAME, None)):
        raise RuntimeError(f"{FACTORY_MODULE}.{FACTORY_NAME} is gone: the adapter needs updating for this moto")
    return module


@contextlib.contextmanager
def adapter(integrations: Integrations) -> Iterator[None]:
    """Route SageMaker, aws-sdk:sagemaker and Lambda tasks to ``integrations`` while the block runs.

    Create and start state machines inside the block: moto builds the task objects when it parses a definition.
    """
    module = factory_module()
    original = getattr(module, FACTORY_NAME)
    classes = _task_classes()

    def state_task_service_for(service_name: str) -> Any:
        if service_name in classes:
            return classes[service_name](integrations)
        return original(service_name)

    setattr(module, FACTORY_NAME, state_task_service_for)
    try:
        yield
    finally:
        setattr(module, FACTORY_NAME, original)


def _task_classes() -> dict[str, type]:
    """Our task classes; built lazily so importing this module does not import moto."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    def rebind(value: Any, env: Any) -> Any:
        """Resolve ``"Key.$"`` bindings moto left as literals.

        moto's lexer reads ``"RoleArn.$"`` as the keyword of a Task's ``Credentials`` block, so in ``Parameters``
        it stays a literal key instead of a path binding (AWS resolves it). Paths only; intrinsics raise.
        """
        if isinstance(value, list):
            return [rebind(item, env) for item in value]
        if not isinstance(value, dict):
            return value
        rebound: dict[str, Any] = {}
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                if item.startswith("$$"):
                    rebound[key[:-2]] = extract_json("$" + item[2:], env.states.context_object.context_object_data)
                elif item.startswith("$"):
                    rebound[key[:-2]] = extract_json(item, env.stack[-1])
                else:
                    raise ValueError(f"cannot resolve {key}: {item} (only paths are re-bound)")
            else:
                rebound[key] = rebind(item, env)
        return rebound

    def failure(task: Any, env: Any, error_name: Any, error: str, cause: str) -> Any:
        details = TaskFailedEventDetails(
            resource=task._get_sfn_resource(), resourceType=task._get_sfn_resource_type(), error=error, cause=cause
        )
        return FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),
        )

    class SageMakerTask(StateTaskServiceCallback):  # type: ignore[misc]
        """``sagemaker:<action>`` with request-response and ``.sync``."""

        def __init__(self, integrations: Integrations) -> None:
            # waitForTaskToken must be listed too: moto's callback code assumes a callback endpoint exists.
            super().__init__({ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})
            self._integrations = integrations

        def _validate_service_integration_is_supported(self) -> None:
            pass

        def _eval_parameters(self, env: Any) -> dict:
            return rebind(super()._eval_parameters(env), env)  # type: ignore[no-any-return]

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            answer = self._integrations.sagemaker.call(operation_of(self.resource.api_action), normalised_parameters)
            env.stack.append(jsonable(answer))

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            env.stack.pop()  # the create response; the task's result is the final description, as on AWS
            if self.resource.api_action not in _SYNC_DESCRIBE:
                raise RuntimeError(f"no .sync for sagemaker:{self.resource.api_action}")
            describe, name_key, status_key = _SYNC_DESCRIBE[self.resource.api_action]
            request = {name_key: normalised_parameters.get(name_key, "")}
            runner = self._integrations.sagemaker

            def resolve() -> dict[str, Any] | None:
                described = jsonable(runner.call(describe, request))
                status = described.get(status_key)
                if status in _RUNNING:
                    return None
                if status == "Completed":
                    return described  # type: ignore[no-any-return]
                error_name = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
                error = StatesErrorNameType.StatesTaskFailed.to_name()
                raise FailureEventException(failure(self, env, error_name, error, to_json_str(described)))

            return resolve

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                message = ex.response.get("Error", {}).get("Message", str(ex))
                code = ex.response.get("Error", {}).get("Code", "")
                cause = f"{message} (Service: AmazonSageMaker; Error Code: {code})"
                return failure(self, env, CustomErrorName(SAGEMAKER_ERROR), SAGEMAKER_ERROR, cause)
            return super()._from_error(env, ex)

    class AwsSdkTask(StateTaskServiceAwsSdk):  # type: ignore[misc]
        """``aws-sdk:sagemaker:<action>`` goes to the runner; other services stay moto's."""

        def __init__(self, integrations: Integrations) -> None:
            super().__init__()
            self._integrations = integrations

        def _eval_parameters(self, env: Any) -> dict:
            return rebind(super()._eval_parameters(env), env)  # type: ignore[no-any-return]

        @staticmethod
        def _normalise_service_error_name(service_name: str) -> str:
            return "SageMaker" if service_name.lower() == "sagemaker" else service_name

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            if self.resource.api_name != "sagemaker":
                super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
                return
            answer = self._integrations.sagemaker.call(operation_of(self.resource.api_action), normalised_parameters)
            env.stack.append(jsonable(answer))

    class LambdaTask(StateTaskServiceLambda):  # type: ignore[misc]
        """``lambda:invoke`` of a local Python callable: ``{"StatusCode": 200, "Payload": <result>}``."""

        def __init__(self, integrations: Integrations) -> None:
            super().__init__()
            self._integrations = integrations

        def _eval_parameters(self, env: Any) -> dict:
            return rebind(super()._eval_parameters(env), env)  # type: ignore[no-any-return]

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            name = str(normalised_parameters["FunctionName"]).rsplit(":", 1)[-1]
            function = self._integrations.functions.get(name)
            if function is None:
                body = {"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name!r}"}
                raise LambdaFunctionErrorException("Unhandled", json.dumps(body))
            payload = json.loads(normalised_parameters.get("Payload") or b"{}")
            try:
                result = function(payload)
            except Exception as exc:  # a Lambda's unhandled error becomes the task's error, as on AWS
                body = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                raise LambdaFunctionErrorException("Unhandled", json.dumps(body)) from exc
            env.stack.append({"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": jsonable(result)})

    return {"sagemaker": SageMakerTask, "aws-sdk": AwsSdkTask, "lambda": LambdaTask}


LOCAL_ROLE_ARN: Final = "arn:aws:iam::123456789012:role/byoc-local-execution"


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
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``definition`` once on moto's interpreter with the adapter; ``(describe_execution, history)``.

    Everything happens inside ``mock_aws``, so no call leaves the process for AWS.
    """
    import boto3
    from moto import mock_aws

    from byoc_pipelines import executions

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), adapter(integrations):
        sfn = boto3.client("stepfunctions", region_name=region)
        machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN)
        execution_arn = executions.start(sfn, machine["stateMachineArn"], name, execution_input)
        described = executions.follow(
            sfn, execution_arn, emit or (lambda _line: None), poll_s=poll_s, timeout_s=timeout_s
        )
        return described, executions.history(sfn, execution_arn)
