"""A model behind a real-time endpoint: model -> endpoint config -> endpoint, invoke, and delete.

Clients are passed in. :func:`endpoint_up` deletes what it created when a step fails (an endpoint that never
reaches InService still bills) and nothing else, :func:`endpoint_down` deletes an endpoint with the config and
models it is on, and :func:`serving` always tears the endpoint down after its block.
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
    """Create model, endpoint config and endpoint, wait for InService; on failure delete what this call created.

    An endpoint of that name that exists already is refused before anything is created, and left alone: the
    endpoint workflow updates its endpoint blue/green, and a failed call must never delete what it did not make.
    """
    waiting = waiting or Waiting()
    _refuse_existing(sagemaker, spec.name)
    created: dict[str, list[str]] = {"endpoints": [], "configs": [], "models": []}
    try:
        sagemaker.create_model(**sm.model(spec.model_name, spec.image, spec.model_data_url, role_arn=spec.role_arn))
        created["models"].append(spec.model_name)
        sagemaker.create_endpoint_config(
            **sm.endpoint_config(
                spec.config_name, spec.model_name, instance_type=spec.instance_type, instance_count=spec.instance_count
            )
        )
        created["configs"].append(spec.config_name)
        sagemaker.create_endpoint(EndpointName=spec.name, EndpointConfigName=spec.config_name)
        created["endpoints"].append(spec.name)
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=spec.name, WaiterConfig=waiting.config())
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=spec.name)
    except (ClientError, WaiterError) as exc:
        logger.error("endpoint %s failed (%s); deleting what this call created: %s", spec.name, exc, created)
        _delete(sagemaker, waiting, **created)
        raise DeployError(f"endpoint {spec.name} did not come up: {exc}") from exc
    logger.info("endpoint %s is %s", spec.name, described["EndpointStatus"])
    return described


def _refuse_existing(sagemaker: Any, name: str) -> None:
    described = _describe(sagemaker.describe_endpoint, EndpointName=name)
    if described is not None:
        raise DeployError(
            f"endpoint {name} exists ({described['EndpointStatus']} on {described['EndpointConfigName']}): "
            "a new model goes to it through the endpoint workflow's blue/green update; endpoint-down deletes it"
        )


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") in NOT_FOUND and any(text in message for text in MISSING_TEXTS)


def _describe(call: Any, **kwargs: Any) -> dict[str, Any] | None:
    """A Describe* answer, ``None`` when the resource does not exist."""
    try:
        return dict(call(**kwargs))
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


def _ignore_missing(call: Any, **kwargs: Any) -> bool:
    """Run a delete; False when the resource was already gone."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if _is_missing(exc):
            return False
        raise
    return True


def _delete(sagemaker: Any, waiting: Waiting, *, endpoints: list[str], configs: list[str], models: list[str]) -> None:
    """Delete the endpoints (waiting until they are gone), then the configs and models; missing ones are skipped."""
    for name in endpoints:
        if _ignore_missing(sagemaker.delete_endpoint, EndpointName=name):
            with contextlib.suppress(WaiterError):  # moto and fast deletes: the describe fails at once
                sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=waiting.config())
            logger.info("deleted endpoint %s", name)
    for config in configs:
        _ignore_missing(sagemaker.delete_endpoint_config, EndpointConfigName=config)
    for model in models:
        _ignore_missing(sagemaker.delete_model, ModelName=model)


def _in_use(sagemaker: Any, name: str) -> tuple[list[str], list[str]]:
    """The config an endpoint is on and that config's models (``<name>-config``/``-model`` when it is gone):
    the endpoint workflow names them after the execution that deployed them, ``endpoint-up`` after the endpoint."""
    described = _describe(sagemaker.describe_endpoint, EndpointName=name)
    config = described["EndpointConfigName"] if described else f"{name}-config"
    variants = (_describe(sagemaker.describe_endpoint_config, EndpointConfigName=config) or {}).get(
        "ProductionVariants", []
    )
    models = [variant["ModelName"] for variant in variants if "ModelName" in variant] or [f"{name}-model"]
    return [config], models


def endpoint_down(
    sagemaker: Any,
    name: str,
    *,
    model_name: str | None = None,
    config_name: str | None = None,
    waiting: Waiting | None = None,
) -> None:
    """Delete the endpoint (waiting until it is gone), then its config and model: the ones named, else the ones
    the endpoint is on; missing pieces are skipped."""
    configs, models = _in_use(sagemaker, name)
    _delete(
        sagemaker,
        waiting or Waiting(),
        endpoints=[name],
        configs=[config_name] if config_name else configs,
        models=[model_name] if model_name else models,
    )


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
