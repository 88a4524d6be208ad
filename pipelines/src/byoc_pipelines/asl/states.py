"""Pure builders of Amazon States Language (JSONPath) states, each returning a plain dict.

Task parameters reuse :mod:`byoc_pipelines.sagemaker.requests`: a builder is called with :class:`Ref` values
where a field is dynamic, and :func:`parameters` turns every ``"Key": Ref("$.path")`` into ``"Key.$": "$.path"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from byoc_pipelines.asl.arns import Api, Pattern, Service, integration_arn

ERROR_PATH = "$.error"
# SageMaker API errors reach a workflow as these names (DG "Create and manage Amazon SageMaker jobs with Step
# Functions": AWS's training-job example retries both); throttling shows up as AmazonSageMakerException.
SAGEMAKER_API_ERROR = "SageMaker.AmazonSageMakerException"
SAGEMAKER_RESOURCE_LIMIT = "SageMaker.ResourceLimitExceededException"
SAGEMAKER_RETRY_ERRORS = (SAGEMAKER_API_ERROR, "ThrottlingException")
# aws-sdk:sagemaker tasks name a SageMaker error SageMaker.<Exception>, SageMaker.SageMakerException when unmodelled.
SDK_RETRY_ERRORS = ("SageMaker.SageMakerException", "ThrottlingException")
# aws-sdk:cloudwatch tasks: ServiceName.ErrorName (DG "AWS SDK service integrations"), the SDK's base exception
# when the error is not in CloudWatch's model, as its throttling ("Throttling") is not.
CLOUDWATCH_RETRY_ERRORS = ("CloudWatch.CloudWatchException",)
# Lambda's transient service errors, as DG "Handle Lambda service exceptions" retries them, and its throttling.
LAMBDA_RETRY_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


class StateName(StrEnum):
    """Every state name used by our definitions (Title Case, shown in the console and the pictures)."""

    NAME_RESOURCES = "Name Resources"
    BUILD_CHANNELS = "Build Channels"
    CHANNEL = "Channel"  # the one state of Build Channels' item processor
    TRAIN_MODEL = "Train Model"
    CREATE_MODEL = "Create Model"
    BATCH_TRANSFORM = "Batch Transform"
    CREATE_ENDPOINT_CONFIG = "Create Endpoint Config"
    CREATE_ENDPOINT = "Create Endpoint"
    WAIT_FOR_ENDPOINT = "Wait For Endpoint"
    DESCRIBE_ENDPOINT = "Describe Endpoint"
    ENDPOINT_READY = "Endpoint Ready?"
    COUNT_ENDPOINT_POLL = "Count Endpoint Poll"
    ENDPOINT_IN_SERVICE = "Endpoint In Service"
    ENDPOINT_FAILED = "Endpoint Failed"
    ENDPOINT_TIMED_OUT = "Endpoint Timed Out"
    # a second execution: the endpoint exists, so it is updated blue/green instead of created
    FIND_ENDPOINT = "Find Endpoint"
    ENDPOINT_MISSING = "Endpoint Missing?"
    PUT_ROLLBACK_ALARM = "Put Rollback Alarm"
    UPDATE_ENDPOINT = "Update Endpoint"
    ENDPOINT_NOT_UPDATED = "Endpoint Not Updated"
    NO_FAILURE_REASON = "No Failure Reason"
    ENDPOINT_CREATED_HERE = "Endpoint Created Here?"
    PIPELINE_FAILED = "Pipeline Failed"
    # the failure path: stop what may still run, delete what the execution created
    STOP_TRAINING_JOB = "Stop Training Job"
    STOP_TRANSFORM_JOB = "Stop Transform Job"
    DELETE_ENDPOINT = "Delete Endpoint"
    DELETE_ENDPOINT_CONFIG = "Delete Endpoint Config"
    DELETE_MODEL = "Delete Model"


class Ref(str):
    """A dynamic value: a JSONPath (``$.a``, ``$$.Execution.Name``) or an intrinsic (``States.Format(...)``)."""

    __slots__ = ()


def fmt(template: str, *paths: str) -> Ref:
    """``States.Format('template', path, ...)``; ``{}`` in ``template`` takes the paths in order."""
    return Ref(f"States.Format('{template}', {', '.join(paths)})")


def parameters(value: Any) -> Any:
    """Render a request built with :class:`Ref` leaves into ASL ``Parameters`` (``Key.$`` for dynamic keys)."""
    if isinstance(value, Mapping):
        rendered: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, Ref):
                rendered[f"{key}.$"] = str(item)
            else:
                rendered[key] = parameters(item)
        return rendered
    if isinstance(value, list | tuple):
        if any(isinstance(item, Ref) for item in value):
            raise ValueError(f"a list cannot hold a dynamic value: {value!r}; reference the whole list instead")
        return [parameters(item) for item in value]
    return value


def retrier(errors: Sequence[str], max_attempts: int, interval_s: int = 5, backoff: float = 2.0) -> dict[str, Any]:
    """One Retry entry: ``interval_s`` before the first retry, times ``backoff`` before each next one."""
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval_s,
        "MaxAttempts": max_attempts,
        "BackoffRate": backoff,
    }


def catch_all(target: StateName = StateName.PIPELINE_FAILED, result_path: str = ERROR_PATH) -> list[dict[str, Any]]:
    """Anything not retried goes to ``target`` with the error and cause at ``result_path``."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": target.value}]


def task(
    resource: str,
    params: Mapping[str, Any],
    *,
    next_state: StateName | None,
    retriers: Sequence[Mapping[str, Any]],
    catch_to: StateName = StateName.PIPELINE_FAILED,
    catch_result_path: str = ERROR_PATH,
    result_selector: Mapping[str, Any] | None = None,
    result_path: str | None = None,
    timeout_s: int | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """A Task state with Retry and a catch-all to ``catch_to``; ``next_state=None`` ends the execution."""
    state: dict[str, Any] = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = resource
    state["Parameters"] = parameters(params)
    if result_selector is not None:
        state["ResultSelector"] = dict(result_selector)
    if result_path is not None:
        state["ResultPath"] = result_path
    if timeout_s is not None:
        state["TimeoutSeconds"] = timeout_s
    state["Retry"] = [dict(item) for item in retriers]
    state["Catch"] = catch_all(catch_to, catch_result_path)
    state.update(_transition(next_state))
    return state


def sagemaker_task(
    api: Api, params: Mapping[str, Any], *, sync: bool = False, partition: str = "aws", **kwargs: Any
) -> dict[str, Any]:
    pattern = Pattern.SYNC if sync else Pattern.REQUEST_RESPONSE
    return task(integration_arn(Service.SAGEMAKER, api, pattern, partition), params, **kwargs)


def lambda_task(
    function_name: str, payload: Mapping[str, Any], *, partition: str = "aws", **kwargs: Any
) -> dict[str, Any]:
    """``lambda:invoke`` with a JSON payload; the function's result is at ``$.Payload`` of the task result."""
    params = {"FunctionName": function_name, "Payload": payload}
    return task(integration_arn(Service.LAMBDA, Api.INVOKE, partition=partition), params, **kwargs)


def map_state(items_path: str, item: Mapping[str, Any], *, result_path: str, next_state: StateName) -> dict[str, Any]:
    """An INLINE Map turning each element of ``items_path`` into ``item`` (``$$.Map.Item.Value`` paths).

    JSONPath cannot reshape a list otherwise (JSONata and ``Assign`` would, but moto runs neither): the
    ``ItemSelector`` builds each element and a single Pass state returns it unchanged.
    """
    return {
        "Type": "Map",
        "ItemsPath": items_path,
        "ItemSelector": parameters(item),
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": StateName.CHANNEL.value,
            "States": {StateName.CHANNEL.value: {"Type": "Pass", "End": True}},
        },
        "ResultPath": result_path,
        "Next": next_state.value,
    }


def pass_state(params: Mapping[str, Any], *, result_path: str, next_state: StateName) -> dict[str, Any]:
    return {"Type": "Pass", "Parameters": parameters(params), "ResultPath": result_path, "Next": next_state.value}


def wait_state(seconds_path: str, next_state: StateName) -> dict[str, Any]:
    return {"Type": "Wait", "SecondsPath": seconds_path, "Next": next_state.value}


def fail_state(*, error: str, cause: str | None = None, cause_from_catch: bool = False) -> dict[str, Any]:
    """A Fail state: a fixed error, and a fixed cause or the caught error's name and cause from ``$.error``.

    The error name stays fixed: a caught ``States.*`` name cannot be re-raised through ``ErrorPath`` in
    moto (it rejects ``States.`` custom error names), so the caught name goes into the cause instead.
    """
    state: dict[str, Any] = {"Type": "Fail", "Error": error}
    if cause_from_catch:
        state["CausePath"] = f"States.Format('{{}}: {{}}', {ERROR_PATH}.Error, {ERROR_PATH}.Cause)"
    else:
        state["Cause"] = cause or "The state machine failed."
    return state


def succeed_state() -> dict[str, Any]:
    return {"Type": "Succeed"}


def _transition(next_state: StateName | None) -> dict[str, Any]:
    return {"End": True} if next_state is None else {"Next": next_state.value}
