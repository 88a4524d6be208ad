"""Pipeline defaults (``PipelineConfig``): names, bucket, instance types; per-run values come from the input."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

ENV_PREFIX = "BYOC_"  # BYOC_REGION, BYOC_BUCKET, ... override the defaults


@dataclass(frozen=True)
class PipelineConfig:
    """Defaults for rendering, deploying and running the workflows.

    ``prefix`` starts every SageMaker job, model and endpoint name, the role, the Lambda function and the state
    machines, so IAM policies can be scoped to ``<prefix>-*`` instead of wildcards.
    """

    prefix: str = "byoc"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    bucket: str = "byoc-sagemaker-data"
    ecr_namespace: str = "byoc"
    training_instance_type: str = "ml.m5.large"
    transform_instance_type: str = "ml.m5.large"
    endpoint_instance_type: str = "ml.t2.medium"
    endpoint_wait_seconds: int = 60
    max_attempts: int = 3  # per retried task
    retry_interval_seconds: int = 5  # first retry delay, doubled each time

    @property
    def role_name(self) -> str:
        return f"{self.prefix}-pipelines"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"

    @property
    def create_model_function(self) -> str:
        return f"{self.prefix}-create-model"

    def state_machine_name(self, definition: str) -> str:
        return f"{self.prefix}-{definition}"

    def image_uri(self, image: str, tag: str = "latest") -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{self.ecr_namespace}/{image}:{tag}"

    def s3_uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key.lstrip('/')}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> PipelineConfig:
        """Defaults, then ``BYOC_<FIELD>`` variables, then explicit non-None ``overrides`` (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(f"{ENV_PREFIX}{field.name.upper()}")
            if raw is not None:
                values[field.name] = int(raw) if field.type in ("int", int) else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)
