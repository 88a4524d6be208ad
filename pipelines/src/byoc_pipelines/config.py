"""Pipeline defaults (``PipelineConfig``): names, roles, bucket layout, instance types; the rest comes per run."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

ENV_PREFIX = "BYOC_"  # BYOC_REGION, BYOC_BUCKET, ... override the defaults
PROJECT_TAG = "project"  # every role, function and repository the project creates carries project=<prefix>
# DNS suffix of a partition's service endpoints (ECR registries), for the partitions outside "aws".
_DNS_SUFFIX = {"aws-cn": "amazonaws.com.cn"}


@functools.cache
def partition_of(region: str) -> str:
    """``aws``, ``aws-cn``, ``aws-us-gov``, ... for a region, from botocore's endpoint data."""
    import botocore.session

    return str(botocore.session.get_session().get_partition_for_region(region))


@dataclass(frozen=True)
class PipelineConfig:
    """Defaults for rendering, deploying and running the workflows.

    ``prefix`` starts every SageMaker job, model and endpoint name, the roles, the Lambda function and the state
    machines, so IAM policies can be scoped to ``<prefix>-*`` instead of wildcards. The bucket holds data and
    code anywhere, but training jobs may write only under ``model_prefix`` (and the other training outputs the
    definitions name), and models only under ``transform_prefix``.
    """

    prefix: str = "byoc"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    bucket: str = "byoc-sagemaker-data"
    ecr_namespace: str = "byoc"
    model_prefix: str = "models/"  # training jobs write model.tar.gz under it
    transform_prefix: str = "transform/"  # batch transforms write their .out files under it
    code_prefix: str = "code/"  # sourcedir.tar.gz of script-mode runs (read-only for the containers)
    training_instance_type: str = "ml.m5.large"
    transform_instance_type: str = "ml.m5.large"
    endpoint_instance_type: str = "ml.t2.medium"
    endpoint_wait_seconds: int = 60
    endpoint_max_polls: int = 30  # DescribeEndpoint polls before the workflow gives up (30 x 60 s)
    # A second execution updates the endpoint blue/green: a canary of this share of capacity bakes this long
    # under the 5xx alarm, then the rest; the old fleet stops after termination_wait (DG "Deployment guardrails").
    canary_percent: int = 25
    canary_wait_seconds: int = 300
    termination_wait_seconds: int = 120
    # MaximumExecutionTimeoutInSeconds (600-28800): the deployment's limit, no later than the poll's 30 x 60 s, so
    # the workflow sees how a stuck update ends (botocore does not say what SageMaker does at the limit)
    update_timeout_seconds: int = 1800
    max_attempts: int = 3  # per retried task
    retry_interval_seconds: int = 5  # first retry delay, doubled each time
    resource_limit_max_attempts: int = 5  # SageMaker.ResourceLimitExceededException: a quota may free up ...
    resource_limit_interval_seconds: int = 60  # ... but not within seconds
    max_runtime_seconds: int = 3600  # a training job's StoppingCondition.MaxRuntimeInSeconds (the input's)
    max_wait_seconds: int = 7200  # managed spot training: MaxWaitTimeInSeconds (at least the runtime)
    training_timeout_seconds: int = 172800  # Train Model's TimeoutSeconds: a net above any MaxWaitTimeInSeconds

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def dns_suffix(self) -> str:
        return _DNS_SUFFIX.get(self.partition, "amazonaws.com")

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>`` (region or account left empty on request)."""
        where = f"{self.region if region else ''}:{self.account_id if account else ''}"
        return f"arn:{self.partition}:{service}:{where}:{resource}"

    # -- the roles: who runs the state machine, what training jobs run as, what models (endpoints, transforms) run
    # as, what the function runs as
    @property
    def states_role_name(self) -> str:
        return f"{self.prefix}-states"

    @property
    def training_role_name(self) -> str:
        return f"{self.prefix}-training"

    @property
    def serving_role_name(self) -> str:
        return f"{self.prefix}-serving"

    @property
    def lambda_role_name(self) -> str:
        return f"{self.prefix}-lambda"

    def role_arn_of(self, role_name: str) -> str:
        return self.arn("iam", f"role/{role_name}", region=False)

    @property
    def training_role_arn(self) -> str:
        """What training jobs run as: they read data and code and write the model."""
        return self.role_arn_of(self.training_role_name)

    @property
    def serving_role_arn(self) -> str:
        """What models run as (endpoints and batch transforms): they read models and write transform outputs."""
        return self.role_arn_of(self.serving_role_name)

    @property
    def create_model_function(self) -> str:
        return f"{self.prefix}-create-model"

    def state_machine_name(self, definition: str) -> str:
        return f"{self.prefix}-{definition}"

    def repository(self, image: str) -> str:
        return f"{self.ecr_namespace}/{image}"

    @property
    def registry(self) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.{self.dns_suffix}"

    def image_uri(self, image: str, tag: str) -> str:
        """``<registry>/<namespace>/<image>:<tag>``; deploy by revision tag or digest, never ``latest``."""
        separator = "@" if tag.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository(image)}{separator}{tag}"

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
