"""The Keras workflow's endpoint, created by the first execution and updated blue/green by every later one.

The endpoint is named after its state machine (:func:`endpoint_name`), so a second execution finds it:

    Find Endpoint (describeEndpoint) --found--> Put Rollback Alarm -> Update Endpoint (CANARY) -> poll
                 \\--"Could not find endpoint"--> Endpoint Missing? -> Create Endpoint -> poll

The update is a canary (``CanarySize`` of capacity, baked ``WaitIntervalInSeconds``, then the rest) with
``AutoRollbackConfiguration`` on a CloudWatch alarm over the endpoint's ``Invocation5XXErrors``, which the
workflow puts itself (PutMetricAlarm replaces an alarm of the same name). SageMaker rolls back on that alarm, or
when the new fleet fails its health check; the poll then sees the endpoint InService on its *old* configuration
(or UpdateRollbackFailed) and the execution fails with DescribeEndpoint's ``FailureReason``. Sources: botocore
``UpdateEndpoint``/``DeploymentConfig``, DG "Deployment guardrails" and "Auto-Rollback Configuration and
Monitoring" (the caller needs ``cloudwatch:DescribeAlarms`` on the alarms).
"""

from __future__ import annotations

from typing import Any

from byoc_pipelines.asl.arns import Api, Service, integration_arn
from byoc_pipelines.asl.failure_path import retrying
from byoc_pipelines.asl.states import (
    CLOUDWATCH_RETRY_ERRORS,
    ERROR_PATH,
    SDK_RETRY_ERRORS,
    Ref,
    StateName,
    pass_state,
    retrier,
    task,
)
from byoc_pipelines.config import PipelineConfig

ENDPOINT = "$.endpoint"  # Create/Update Endpoint's ARN, the count of polls, and whether this execution created it
STATUS = "$.endpoint_status"  # DescribeEndpoint's answer, whole: FailureReason is there only when something failed
VARIANT = "AllTraffic"  # the one variant of the workflow's endpoint configs (requests.endpoint_config)
# How SageMaker says an endpoint does not exist (a ValidationException: the aws-sdk task's
# SageMaker.SageMakerException). AWS does not document the message; SageMaker, moto and the local endpoints all
# answer DescribeEndpoint so.
NOT_FOUND = "*Could not find endpoint*"
# Where the poll stops (DescribeEndpoint's EndpointStatus, API reference): anything else is on its way.
SETTLED = ("InService", "Failed", "UpdateRollbackFailed")


def endpoint_name(config: PipelineConfig, definition: str) -> str:
    """The endpoint of state machine ``definition``: its name (``<prefix>-keras-text-endpoint``), every execution."""
    return config.state_machine_name(definition)


def alarm_name(endpoint: str) -> str:
    return f"{endpoint}-invocation-5xx"


def five_xx_alarm(endpoint: str) -> dict[str, Any]:
    """CloudWatch's PutMetricAlarm request: any 5xx the endpoint's variant answers within a minute."""
    return {
        "AlarmName": alarm_name(endpoint),
        "AlarmDescription": "Rolls back a blue/green update of the endpoint whose new model answers 5xx",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Dimensions": [
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": VARIANT},
        ],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def deployment_config(config: PipelineConfig, endpoint: str) -> dict[str, Any]:
    """UpdateEndpoint's ``DeploymentConfig``: a canary, then all at once, rolled back on the 5xx alarm."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": config.canary_percent},
                "WaitIntervalInSeconds": config.canary_wait_seconds,
            },
            "TerminationWaitInSeconds": config.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": config.update_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm_name(endpoint)}]},
    }


def find_or_update(
    config: PipelineConfig, catch_to: StateName, endpoint: str, created: dict[str, Any]
) -> dict[StateName, Any]:
    """Find Endpoint, then Update Endpoint if found, else ``created`` (the Create Endpoint state)."""
    describe = integration_arn(Service.AWS_SDK_SAGEMAKER, Api.DESCRIBE_ENDPOINT, partition=config.partition)
    return {
        StateName.FIND_ENDPOINT: task(
            describe,
            {"EndpointName": Ref("$.names.endpoint")},
            result_selector={"EndpointConfigName.$": "$.EndpointConfigName"},
            result_path="$.existing",
            next_state=StateName.PUT_ROLLBACK_ALARM,
            # "not found" is an answer here, not a failure: no retry of SageMakerException, and the Choice
            # below tells it from a real error, which goes on to the failure path.
            retriers=[retrier(["ThrottlingException"], config.max_attempts, config.retry_interval_seconds)],
            catch_to=StateName.ENDPOINT_MISSING,
        ),
        StateName.ENDPOINT_MISSING: {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"{ERROR_PATH}.Cause", "StringMatches": NOT_FOUND, "Next": StateName.CREATE_ENDPOINT.value}
            ],
            "Default": catch_to.value,
        },
        StateName.CREATE_ENDPOINT: created,
        StateName.PUT_ROLLBACK_ALARM: task(
            integration_arn(Service.AWS_SDK_CLOUDWATCH, Api.PUT_METRIC_ALARM, partition=config.partition),
            five_xx_alarm(endpoint),
            result_path="$.rollback_alarm",
            next_state=StateName.UPDATE_ENDPOINT,
            retriers=[retrier(CLOUDWATCH_RETRY_ERRORS, config.max_attempts, config.retry_interval_seconds)],
            catch_to=catch_to,  # the failure path deletes only an endpoint this execution created
        ),
        StateName.UPDATE_ENDPOINT: task(
            integration_arn(Service.AWS_SDK_SAGEMAKER, Api.UPDATE_ENDPOINT, partition=config.partition),
            {
                "EndpointName": Ref("$.names.endpoint"),
                "EndpointConfigName": Ref("$.names.endpoint_config"),
                "DeploymentConfig": deployment_config(config, endpoint),
            },
            result_selector={"EndpointArn.$": "$.EndpointArn", "Polls": 0, "Created": False},
            result_path=ENDPOINT,
            next_state=StateName.WAIT_FOR_ENDPOINT,
            retriers=retrying(config, catch_to, SDK_RETRY_ERRORS)["retriers"],
            catch_to=catch_to,
        ),
    }


def settled_choices(config_path: str) -> list[dict[str, Any]]:
    """The poll's Choice rules once the endpoint settled: on our configuration, Failed, or back on another
    configuration (rolled back) or UpdateRollbackFailed, the last two failing with the reason.

    Statuses and ``FailureReason`` as the API reference's DescribeEndpoint/EndpointMetadata give them: the reason
    is set when the endpoint is Failed, "or the status is InService but update operation fails"; a settled
    endpoint without one gets a stated stand-in first, so the states after can always format it.
    """
    status = f"{STATUS}.EndpointStatus"
    settled = {"Or": [{"Variable": status, "StringEquals": value} for value in SETTLED]}
    ours = [
        {"Variable": status, "StringEquals": "InService"},
        {"Variable": f"{STATUS}.EndpointConfigName", "StringEqualsPath": config_path},
    ]
    no_reason = {"Not": {"Variable": f"{STATUS}.FailureReason", "IsPresent": True}}
    return [
        {"And": ours, "Next": StateName.ENDPOINT_IN_SERVICE.value},
        {"And": [settled, no_reason], "Next": StateName.NO_FAILURE_REASON.value},
        {"Variable": status, "StringEquals": "Failed", "Next": StateName.ENDPOINT_FAILED.value},
        # InService on another configuration (rolled back), or UpdateRollbackFailed
        {**settled, "Next": StateName.ENDPOINT_NOT_UPDATED.value},
    ]


def no_failure_reason(choice: StateName) -> dict[str, Any]:
    """A Pass state that gives a settled endpoint without ``FailureReason`` one saying so, then asks again."""
    return {
        "Type": "Pass",
        "Result": "DescribeEndpoint gives no FailureReason",
        "ResultPath": f"{STATUS}.FailureReason",
        "Next": choice.value,
    }


def not_updated() -> dict[str, Any]:
    """Fail with where the endpoint ended and DescribeEndpoint's FailureReason."""
    cause = (
        f"States.Format('Endpoint {{}} is {{}} on {{}}, not on {{}}: {{}}', $.names.endpoint, "
        f"{STATUS}.EndpointStatus, {STATUS}.EndpointConfigName, $.names.endpoint_config, {STATUS}.FailureReason)"
    )
    return {"Type": "Fail", "Error": "EndpointNotUpdated", "CausePath": cause}


def endpoint_failed(clean_up: StateName) -> dict[str, Any]:
    """An endpoint that ended Failed, as a caught error (``EndpointFailed`` and its FailureReason) into the failure
    path, which deletes it when this execution created it: DeleteEndpoint is all SageMaker allows on a Failed
    endpoint (botocore DescribeEndpoint's EndpointStatus), so left there it would refuse every later update."""
    cause = f"States.Format('Endpoint {{}} is Failed: {{}}', $.names.endpoint, {STATUS}.FailureReason)"
    return pass_state({"Error": "EndpointFailed", "Cause": Ref(cause)}, result_path=ERROR_PATH, next_state=clean_up)
