"""The runner protocol (whatever answers AWS-shaped SageMaker requests by operation name) and its boto3 runner.

Step Functions tasks, the CreateModel Lambda function and the validators all talk to SageMaker through a
:class:`SageMakerRunner`: :class:`ClientRunner` over a boto3 client (AWS, or moto's SageMaker backend inside
``mock_aws``), or :class:`byoc_pipelines.local.runner.LocalModeRunner` over SDK local mode.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from botocore import xform_name
from botocore.exceptions import ClientError


class SageMakerRunner(Protocol):
    """Takes ``("CreateTrainingJob", {...request...})`` and answers as the SageMaker API does."""

    def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any] | None: ...


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    """The ``ClientError`` boto3 raises for a SageMaker error answer (code, message, status, request id)."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
    }
    return ClientError(response, operation)


def jsonable(value: Any) -> Any:
    """An answer as JSON data: datetimes (boto3 and the SDK's local client return them) become ISO strings."""

    def convert(item: Any) -> Any:
        if isinstance(item, datetime.datetime | datetime.date):
            return item.isoformat()
        raise TypeError(f"not JSON serialisable: {type(item).__name__}")

    return json.loads(json.dumps(value or {}, default=convert))


class ClientRunner:
    """A :class:`SageMakerRunner` over a boto3 SageMaker client; answers lose their ``ResponseMetadata``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        answer = dict(getattr(self.client, xform_name(operation))(**request))
        answer.pop("ResponseMetadata", None)
        result: dict[str, Any] = jsonable(answer)
        return result


class ModelClient:
    """The one method of a boto3 SageMaker client the CreateModel Lambda function calls, over a runner."""

    def __init__(self, runner: SageMakerRunner) -> None:
        self.runner = runner

    def create_model(self, **request: Any) -> dict[str, Any]:
        return dict(self.runner.call("CreateModel", request) or {})
