"""Every Amazon States Language ``Resource`` ARN, built by one function from enums."""

from __future__ import annotations

import re
from enum import StrEnum

# ``arn:<partition>:states:::`` starts every integration ARN (aws, aws-cn, aws-us-gov, ...).
_INTEGRATION_PREFIX = re.compile(r"^arn:[a-z-]+:states:::")


class Service(StrEnum):
    SAGEMAKER = "sagemaker"
    LAMBDA = "lambda"
    AWS_SDK_SAGEMAKER = "aws-sdk:sagemaker"
    AWS_SDK_CLOUDWATCH = "aws-sdk:cloudwatch"


class Api(StrEnum):
    """Actions in the camelCase Step Functions spells them (the SageMaker API name with a lower first letter)."""

    CREATE_TRAINING_JOB = "createTrainingJob"
    CREATE_MODEL = "createModel"
    CREATE_TRANSFORM_JOB = "createTransformJob"
    CREATE_ENDPOINT_CONFIG = "createEndpointConfig"
    CREATE_ENDPOINT = "createEndpoint"
    DESCRIBE_ENDPOINT = "describeEndpoint"
    UPDATE_ENDPOINT = "updateEndpoint"
    PUT_METRIC_ALARM = "putMetricAlarm"
    STOP_TRAINING_JOB = "stopTrainingJob"
    STOP_TRANSFORM_JOB = "stopTransformJob"
    DELETE_ENDPOINT = "deleteEndpoint"
    DELETE_ENDPOINT_CONFIG = "deleteEndpointConfig"
    DELETE_MODEL = "deleteModel"
    INVOKE = "invoke"


class Pattern(StrEnum):
    """Service integration patterns: request-response (no suffix) or "Run a Job" (``.sync``)."""

    REQUEST_RESPONSE = ""
    SYNC = ".sync"


def integration_arn(
    service: Service, api: Api, pattern: Pattern = Pattern.REQUEST_RESPONSE, partition: str = "aws"
) -> str:
    """``arn:aws:states:::sagemaker:createTrainingJob.sync`` and friends (``arn:aws-cn:...`` in China).

    See https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html
    """
    return f"arn:{partition}:states:::{service.value}:{api.value}{pattern.value}"


def integration(resource: str) -> str:
    """The part after ``arn:<partition>:states:::``: ``sagemaker:createTrainingJob.sync``."""
    return _INTEGRATION_PREFIX.sub("", resource)


def operation(action: str) -> str:
    """The SageMaker operation of a Step Functions action: ``createTrainingJob.sync`` -> ``CreateTrainingJob``.

    The ``.sync``/``.waitForTaskToken`` suffix is dropped and the first letter upper-cased: the botocore name.
    """
    name = action.split(".", 1)[0]
    return name[:1].upper() + name[1:]


def operation_name(resource: str) -> tuple[str, str]:
    """``(service, Operation)`` of an integration ARN: ``("sagemaker", "CreateTrainingJob")``."""
    service, _, action = integration(resource).rpartition(":")
    return service, operation(action)


# A .sync SageMaker task's result is the job's final description (connect-sagemaker.html, "Run a Job").
_SYNC_RESULT = {"CreateTrainingJob": "DescribeTrainingJob", "CreateTransformJob": "DescribeTransformJob"}
# aws-sdk service names that botocore spells differently.
_BOTOCORE_NAME = {"sfn": "stepfunctions"}


def result_operation(resource: str) -> tuple[str, str]:
    """``(botocore service, Operation)`` whose output shape a Task's result has.

    ``sagemaker:createTrainingJob.sync`` -> ``("sagemaker", "DescribeTrainingJob")``;
    ``aws-sdk:sagemaker:describeEndpoint`` -> ``("sagemaker", "DescribeEndpoint")``; ``lambda:invoke`` ->
    ``("lambda", "Invoke")``. Raises ``ValueError`` for a ``.sync`` integration whose result is not known here.
    """
    service, name = operation_name(resource)
    if service.startswith("aws-sdk:"):
        service = service.removeprefix("aws-sdk:")
        return _BOTOCORE_NAME.get(service, service), name
    if integration(resource).endswith(".sync"):
        if service != "sagemaker" or name not in _SYNC_RESULT:
            raise ValueError(f"the result shape of {integration(resource)} is not known here")
        return service, _SYNC_RESULT[name]
    return _BOTOCORE_NAME.get(service, service), name
