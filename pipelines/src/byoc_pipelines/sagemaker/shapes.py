"""SageMaker requests checked against botocore's service model (the request shapes of the API we call)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
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
