"""The errors local endpoints raise: botocore ``ClientError``s with the codes and HTTP statuses AWS answers.

SageMaker's control plane answers ``ValidationException`` (HTTP 400) for a missing or duplicate resource and a
request it refuses; the messages follow AWS's ("Could not find endpoint ...", "Cannot update in-progress
endpoint ..."). The runtime's errors are botocore's ``sagemaker-runtime`` error shapes: ``ValidationError``
(400), ``ModelError`` (424, with ``OriginalStatusCode``, ``OriginalMessage``, ``LogStreamArn``),
``ModelNotReadyException`` (429), ``ServiceUnavailable`` (503).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from byoc_pipelines.sagemaker.shapes import request_errors

RUNTIME = "sagemaker-runtime"
_STATUS = {
    "ValidationException": 400,
    "ResourceLimitExceeded": 400,
    "ValidationError": 400,
    "ModelError": 424,
    "ModelNotReadyException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


def client_error(code: str, message: str, operation: str, status: int | None = None, **fields: Any) -> ClientError:
    """A ``ClientError`` as botocore raises it for an error answer (``fields`` are the error shape's members)."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status or _STATUS.get(code, 400)},
        **fields,
    }
    return ClientError(response, operation)


def validation(message: str, operation: str) -> ClientError:
    return client_error("ValidationException", message, operation)


def not_found(kind: str, arn: str, operation: str) -> ClientError:
    return validation(f'Could not find {kind} "{arn}".', operation)


def check_request(operation: str, request: dict[str, Any], service: str = "sagemaker") -> None:
    """botocore's verdict on the request, as the AWS API would give it (a 400 naming every problem)."""
    errors = request_errors(operation, request, service)
    if errors:
        code = "ValidationError" if service == RUNTIME else "ValidationException"
        raise client_error(code, "; ".join(errors), operation)


def error_fields(exc: ClientError) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` of an error answer as the AWS front end sends it (rest-json and json)."""
    response: dict[str, Any] = dict(exc.response)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
    error = response.get("Error", {})
    body = {"__type": error.get("Code", ""), "message": error.get("Message", "")}
    body.update({key: value for key, value in response.items() if key not in ("Error", "ResponseMetadata")})
    return status, body
