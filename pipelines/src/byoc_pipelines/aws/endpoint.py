"""A model behind a real-time endpoint: model -> endpoint config -> endpoint, invoke, and delete.

Clients are passed in. :func:`endpoint_up` deletes what it created when a step fails (an endpoint that never
reaches InService still bills), and :func:`serving` always tears the endpoint down after its block.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from byoc_pipelines.errors import DeployError
from byoc_pipelines.sagemaker import requests as sm

logger = logging.getLogger(__name__)

# SageMaker reports a missing endpoint, config or model as a ValidationException "Could not find ...".
NOT_FOUND = ("ValidationException", "ResourceNotFound")
MISSING_TEXTS = ("could not find", "does not exist", "not found")


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    image: str
    model_data_url: str
    role_arn: str
    instance_type: str = "ml.t2.medium"
    instance_count: int = 1

    @property
    def model_name(self) -> str:
        return f"{self.name}-model"

    @property
    def config_name(self) -> str:
        return f"{self.name}-config"


@dataclass(frozen=True)
class Waiting:
    """Waiter pacing: AWS needs minutes; tests against moto use ``Waiting(1, 3)``."""

    delay_s: int = 30
    max_attempts: int = 60

    def config(self) -> dict[str, int]:
        return {"Delay": self.delay_s, "MaxAttempts": self.max_attempts}


def endpoint_up(sagemaker: Any, spec: EndpointSpec, waiting: Waiting | None = None) -> dict[str, Any]:
    """Create model, endpoint config and endpoint, wait for InService; clean up everything on failure."""
    waiting = waiting or Waiting()
    try:
        sagemaker.create_model(**sm.model(spec.model_name, spec.image, spec.model_data_url, role_arn=spec.role_arn))
        sagemaker.create_endpoint_config(
            **sm.endpoint_config(
                spec.config_name, spec.model_name, instance_type=spec.instance_type, instance_count=spec.instance_count
            )
        )
        sagemaker.create_endpoint(EndpointName=spec.name, EndpointConfigName=spec.config_name)
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=spec.name, WaiterConfig=waiting.config())
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=spec.name)
    except (ClientError, WaiterError) as exc:
        logger.error("endpoint %s failed (%s); deleting what was created", spec.name, exc)
        endpoint_down(sagemaker, spec.name, model_name=spec.model_name, config_name=spec.config_name, waiting=waiting)
        raise DeployError(f"endpoint {spec.name} did not come up: {exc}") from exc
    logger.info("endpoint %s is %s", spec.name, described["EndpointStatus"])
    return described


def _ignore_missing(call: Any, **kwargs: Any) -> bool:
    """Run a delete; False when the resource was already gone."""
    try:
        call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message", "")).lower()
        if error.get("Code") in NOT_FOUND and any(text in message for text in MISSING_TEXTS):
            return False
        raise
    return True


def endpoint_down(
    sagemaker: Any,
    name: str,
    *,
    model_name: str | None = None,
    config_name: str | None = None,
    waiting: Waiting | None = None,
) -> None:
    """Delete the endpoint (waiting until it is gone), then its config and model; missing pieces are skipped."""
    waiting = waiting or Waiting()
    model_name, config_name = model_name or f"{name}-model", config_name or f"{name}-config"
    if _ignore_missing(sagemaker.delete_endpoint, EndpointName=name):
        with contextlib.suppress(WaiterError):  # moto and fast deletes: the describe fails at once
            sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=waiting.config())
        logger.info("deleted endpoint %s", name)
    _ignore_missing(sagemaker.delete_endpoint_config, EndpointConfigName=config_name)
    _ignore_missing(sagemaker.delete_model, ModelName=model_name)


def invoke(
    runtime: Any, name: str, payload: Any, content_type: str = "application/json", accept: str = "application/json"
) -> Any:
    """Send ``payload`` (JSON-encoded unless bytes) and decode a JSON answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    response = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, Accept=accept)
    raw = response["Body"].read()
    return json.loads(raw) if accept == "application/json" else raw


@contextlib.contextmanager
def serving(sagemaker: Any, spec: EndpointSpec, waiting: Waiting | None = None) -> Iterator[dict[str, Any]]:
    """``with serving(sm, spec) as described: invoke(...)``: the endpoint is deleted whatever happens."""
    described = endpoint_up(sagemaker, spec, waiting)
    try:
        yield described
    finally:
        endpoint_down(sagemaker, spec.name, model_name=spec.model_name, config_name=spec.config_name, waiting=waiting)
