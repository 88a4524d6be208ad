"""moto task-state classes that send SageMaker, ``aws-sdk:sagemaker`` and Lambda tasks to Python.

Each class subclasses the moto class it replaces and is built with the :class:`Integrations` of a run:

* :class:`SageMakerTask`: ``sagemaker:<action>[.sync]`` -> ``runner.call("<Action>", parameters)``; ``.sync``
  polls ``Describe{Training,Transform}Job`` until the job ends, a Failed/Stopped job is ``States.TaskFailed``
  with the description as cause, a botocore ``ClientError`` is ``SageMaker.AmazonSageMakerException``
  (``SageMaker.ResourceLimitExceededException`` for a resource limit), and an execution stopped while the job
  runs stops the job (the ``.sync`` IAM policy AWS documents includes Stop*Job for this);
* :class:`AwsSdkTask`: ``aws-sdk:sagemaker:<action>`` -> the same runner; ``aws-sdk:cloudwatch:putMetricAlarm``
  also to the runner's ``put_metric_alarm`` when it has one (local endpoints roll back on their own alarms);
  other services stay moto's;
* :class:`LambdaTask`: ``lambda:invoke`` -> a Python callable looked up by ``FunctionName``.

See ``stepfunctions-local.md`` §3 for the moto internals these rely on; moto is pinned.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
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
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.asl.utils.json_path import extract_json

from byoc_pipelines.asl.arns import operation
from byoc_pipelines.functions import LambdaFunction
from byoc_pipelines.local.faults import FaultPlan, after_call, before_call
from byoc_pipelines.sagemaker.runner import SageMakerRunner, jsonable

logger = logging.getLogger(__name__)

SAGEMAKER_ERROR: Final = "SageMaker.AmazonSageMakerException"  # what AWS names SageMaker API errors
# API error codes with an error name of their own in the optimized integration (DG "Create and manage Amazon
# SageMaker jobs with Step Functions": AWS's training example retries this one apart).
_ERROR_NAMES: Final = {"ResourceLimitExceeded": "SageMaker.ResourceLimitExceededException"}
# .sync jobs: (describe operation, name field, status field)
_SYNC_DESCRIBE: Final = {
    "createTrainingJob": ("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus"),
    "createTransformJob": ("DescribeTransformJob", "TransformJobName", "TransformJobStatus"),
}
_RUNNING: Final = {"InProgress", "Stopping"}
_STOP: Final = {"createTrainingJob": "StopTrainingJob", "createTransformJob": "StopTransformJob"}


@dataclass
class Integrations:
    """Where the adapted tasks go: SageMaker requests to ``sagemaker``, ``lambda:invoke`` to ``functions``."""

    sagemaker: SageMakerRunner
    functions: Mapping[str, LambdaFunction] = field(default_factory=dict)
    faults: FaultPlan = field(default_factory=FaultPlan)

    def call(self, state: Any, env: Any, action: str, parameters: Mapping[str, Any]) -> Any:
        """``runner.call`` for state ``state``, with the fault chosen for this attempt of it (if any)."""
        context = env.states.context_object.context_object_data
        fault = self.faults.at(state.name, int(context["State"].get("RetryCount", 0)))
        request = before_call(fault, operation(action), parameters, self.sagemaker)
        answer = jsonable(self.sagemaker.call(operation(action), request))
        after_call(fault, self.sagemaker, request, str(context["Execution"]["Id"]))
        return answer


def rebind(value: Any, env: Any) -> Any:
    """Resolve ``"Key.$"`` bindings moto left as literals.

    moto's lexer reads ``"RoleArn.$"`` as the keyword of a Task's ``Credentials`` block, so in ``Parameters``
    it stays a literal key instead of a path binding (AWS resolves it). Paths only; intrinsics raise.
    """
    return rebind_with(value, env.stack[-1], env.states.context_object.context_object_data)


def rebind_with(value: Any, data: Any, context: Any) -> Any:
    """:func:`rebind` against the state's input ``data`` and the context object ``context``."""
    if isinstance(value, list):
        return [rebind_with(item, data, context) for item in value]
    if not isinstance(value, dict):
        return value
    rebound: dict[str, Any] = {}
    for key, item in value.items():
        if not (key.endswith(".$") and isinstance(item, str)):
            rebound[key] = rebind_with(item, data, context)
        elif item.startswith("$$"):
            rebound[key[:-2]] = extract_json("$" + item[2:], context)
        elif item.startswith("$"):
            rebound[key[:-2]] = extract_json(item, data)
        else:
            raise ValueError(f"cannot resolve {key}: {item} (only paths are re-bound)")
    return rebound


def _failure(task: Any, env: Any, error_name: Any, error: str, cause: str) -> FailureEvent:
    details = TaskFailedEventDetails(
        resource=task._get_sfn_resource(), resourceType=task._get_sfn_resource_type(), error=error, cause=cause
    )
    return FailureEvent(
        env=env,
        error_name=error_name,
        event_type=HistoryEventType.TaskFailed,
        # moto declares EventDetails total, though every event carries one kind of details only.
        event_details=cast(EventDetails, {"taskFailedEventDetails": details}),
    )


class _JobResolver:
    """The ``.sync`` poll of one job: nothing while it runs, its description once Completed, else TaskFailed."""

    def __init__(self, task: SageMakerTask, env: Any, action: str, name: str) -> None:
        self.task, self.env, self.action, self.name = task, env, action, name
        self.describe, self.name_key, self.status_key = _SYNC_DESCRIBE[action]

    def __call__(self) -> Any:
        described = jsonable(self.task.runner.call(self.describe, {self.name_key: self.name}))
        status = described.get(self.status_key)
        if status in _RUNNING:
            return None
        if status == "Completed":
            return described
        error_name = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
        error = StatesErrorNameType.StatesTaskFailed.to_name()
        raise FailureEventException(_failure(self.task, self.env, error_name, error, to_json_str(described)))

    def stop(self) -> None:
        """The execution was stopped: stop the job (it may have ended meanwhile)."""
        try:
            self.task.runner.call(_STOP[self.action], {self.name_key: self.name})
        except ClientError as exc:
            logger.info("%s of %s after the execution stopped: %s", _STOP[self.action], self.name, exc)


class SageMakerTask(StateTaskServiceCallback):
    """``sagemaker:<action>`` with request-response and ``.sync``."""

    def __init__(self, integrations: Integrations) -> None:
        # waitForTaskToken must be listed too: moto's callback code assumes a callback endpoint exists.
        super().__init__(
            {ResourceCondition(ResourceCondition.Sync), ResourceCondition(ResourceCondition.WaitForTaskToken)}
        )
        self._integrations = integrations

    @property
    def runner(self) -> SageMakerRunner:
        return self._integrations.sagemaker

    def _validate_service_integration_is_supported(self) -> None:
        pass

    def _eval_parameters(self, env: Any) -> Any:
        return rebind(super()._eval_parameters(env), env)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        env.stack.append(self._integrations.call(self, env, self.resource.api_action, normalised_parameters))

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> Callable[[], Any]:
        env.stack.pop()  # the create response; the task's result is the final description, as on AWS
        action = self.resource.api_action
        if action not in _SYNC_DESCRIBE:
            raise RuntimeError(f"no .sync for sagemaker:{action}")
        return _JobResolver(self, env, action, str(normalised_parameters.get(_SYNC_DESCRIBE[action][1], "")))

    def _eval_sync(self, env: Any, sync_resolver: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = super()._eval_sync(env, sync_resolver, *args, **kwargs)
        if outcome is None and isinstance(env.program_state(), ProgramStopped) and hasattr(sync_resolver, "stop"):
            sync_resolver.stop()
        return outcome

    def _from_error(self, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            message = ex.response.get("Error", {}).get("Message", str(ex))
            code = ex.response.get("Error", {}).get("Code", "")
            cause = f"{message} (Service: AmazonSageMaker; Error Code: {code})"
            name = _ERROR_NAMES.get(code, SAGEMAKER_ERROR)
            return _failure(self, env, CustomErrorName(name), name, cause)
        return super()._from_error(env, ex)


# How AWS spells the services' names in aws-sdk task errors (SageMaker.SageMakerException, CloudWatch....)
_SERVICE_ERROR_NAMES = {"sagemaker": "SageMaker", "cloudwatch": "CloudWatch"}


class AwsSdkTask(StateTaskServiceAwsSdk):
    """``aws-sdk:sagemaker:<action>`` goes to the runner; other services stay moto's."""

    def __init__(self, integrations: Integrations) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # moto leaves this constructor unannotated
        self._integrations = integrations

    def _eval_parameters(self, env: Any) -> Any:
        return rebind(super()._eval_parameters(env), env)

    @staticmethod
    def _normalise_service_error_name(service_name: str) -> str:
        return _SERVICE_ERROR_NAMES.get(service_name.lower(), service_name)

    def _from_error(self, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):  # moto's cause quotes the status and request id boto3 answers carry
            metadata = ex.response.setdefault("ResponseMetadata", {})
            metadata.setdefault("HTTPStatusCode", 400)
            metadata.setdefault("RequestId", str(uuid.uuid4()))
        return super()._from_error(env, ex)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        if self.resource.api_name == "cloudwatch" and self.resource.api_action == "putMetricAlarm":
            put_alarm = getattr(self._integrations.sagemaker, "put_metric_alarm", None)
            if put_alarm is not None:
                env.stack.append(jsonable(put_alarm(normalised_parameters)))
                return
        if self.resource.api_name != "sagemaker":
            super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
            return
        env.stack.append(self._integrations.call(self, env, self.resource.api_action, normalised_parameters))


class LambdaTask(StateTaskServiceLambda):
    """``lambda:invoke`` of a local Python callable: ``{"StatusCode": 200, "Payload": <result>}``."""

    def __init__(self, integrations: Integrations) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # moto leaves this constructor unannotated
        self._integrations = integrations

    def _eval_parameters(self, env: Any) -> Any:
        return rebind(super()._eval_parameters(env), env)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        parameters = normalised_parameters
        name = str(parameters["FunctionName"]).rsplit(":", 1)[-1]
        function = self._integrations.functions.get(name)
        if function is None:
            body = {"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name!r}"}
            raise LambdaFunctionErrorException("Unhandled", json.dumps(body))
        payload = json.loads(parameters.get("Payload") or b"{}")
        try:
            result = function(payload)
        except Exception as exc:  # a Lambda's unhandled error becomes the task's error, as on AWS
            body = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            raise LambdaFunctionErrorException("Unhandled", json.dumps(body)) from exc
        env.stack.append({"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": jsonable(result)})


TASK_CLASSES: Final[Mapping[str, Callable[[Integrations], Any]]] = {
    "sagemaker": SageMakerTask,
    "aws-sdk": AwsSdkTask,
    "lambda": LambdaTask,
}
