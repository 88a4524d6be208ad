"""Lambda function: create a SageMaker model from a CreateModel request given as the event.

Used by the ``chainer-mnist-batch-lambda`` state machine (the older pattern where a function, not the native
``sagemaker:createModel`` integration, creates the model). The event is the CreateModel request itself;
the answer is CreateModel's response (``{"ModelArn": ...}``).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

REQUIRED = ("ModelName", "PrimaryContainer", "ExecutionRoleArn")


def create_model(sagemaker: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Validate the request's essentials and pass it to ``sagemaker.create_model``."""
    missing = [key for key in REQUIRED if key not in event]
    if missing:
        raise ValueError(f"CreateModel request lacks {', '.join(missing)}")
    response = dict(sagemaker.create_model(**event) or {})
    response.pop("ResponseMetadata", None)
    logger.info("created model %s", event["ModelName"])
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3  # provided by the Lambda Python runtime

    return create_model(boto3.client("sagemaker"), event)
