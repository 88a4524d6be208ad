"""Requests and results checked against botocore's service models (SageMaker's and any other service's).

Requests: :func:`request_errors`. Results (a mocked ``Return``, a TestState mock, our own runners' answers):
:func:`result_errors` in the three field validation modes of the TestState API's ``mock.fieldValidationMode``
(API reference, ``MockInput``): ``STRICT`` (required fields present, every field in the schema, types right),
``PRESENT`` (fields given must be in the schema with the right types), ``NONE``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import botocore.session
from botocore.model import ServiceModel
from botocore.validate import ParamValidator


@functools.cache
def service_model(service: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def is_operation(operation: str, service: str = "sagemaker") -> bool:
    return operation in service_model(service).operation_names


def request_errors(operation: str, request: Mapping[str, Any], service: str = "sagemaker") -> list[str]:
    """Problems of ``request`` as ``operation``'s input (unknown or misspelled fields, types, required members)."""
    if not is_operation(operation, service):
        return [f"{service} has no operation {operation!r}"]
    model = service_model(service)
    report = ParamValidator().validate(dict(request), model.operation_model(operation).input_shape)
    if not report.has_errors():
        return []
    return [line.strip() for line in report.generate_report().splitlines() if line.strip()]


class FieldValidationMode(StrEnum):
    STRICT = "STRICT"
    PRESENT = "PRESENT"
    NONE = "NONE"


def result_errors(
    service: str, operation: str, result: Any, mode: FieldValidationMode = FieldValidationMode.STRICT
) -> list[str]:
    """Problems of ``result`` as ``operation``'s output, each naming the field: ``[]`` when it conforms.

    Step Functions hands a Lambda function's ``Payload`` over as JSON, not as the API's blob, so any JSON passes.
    """
    if mode is FieldValidationMode.NONE:
        return []
    if not is_operation(operation, service):
        return [f"{service} has no operation {operation!r}"]
    if not isinstance(result, Mapping):
        return [f"the {operation} result must be a JSON object, not {type(result).__name__}"]
    checked = dict(result)
    if service == "lambda" and "Payload" in checked:
        checked["Payload"] = json.dumps(checked["Payload"])
    shape = service_model(service).operation_model(operation).output_shape
    report = ParamValidator().validate(checked, shape)
    lines = (
        [line.strip() for line in report.generate_report().splitlines() if line.strip()] if report.has_errors() else []
    )
    if mode is FieldValidationMode.PRESENT:
        lines = [line for line in lines if not line.startswith("Missing required parameter")]
    return [_as_result_problem(line, operation) for line in lines]


def _as_result_problem(line: str, operation: str) -> str:
    """botocore's request wording for a result: ``Unknown field in the DescribeTrainingJob result: "Foo"``."""
    line = line.split(", must be one of:")[0]  # the list of every valid field is long; the schema has it
    return line.replace(" in input:", f" in the {operation} result:").replace("parameter ", "field ")
