"""The IAM documents of the four roles: who may assume each, and what each may do.

* ``<prefix>-states`` (Step Functions): exactly what the definitions' tasks need (:mod:`permissions`), on
  ``<prefix>-*`` jobs, models and endpoints, and ``iam:PassRole`` of the training and serving roles only.
* ``<prefix>-training`` (training jobs): pull the project's images, read the bucket, write only where the
  definitions' training jobs put their results (the model prefix), logs and metrics.
* ``<prefix>-serving`` (models: endpoints and batch transforms): the same reads, but writes only where the
  definitions' transforms put their results. An endpoint runs code that came with its model (a user module,
  ``inference.py``), so the role it runs as can change no model, no data and no code.
* ``<prefix>-lambda`` (the CreateModel function): CreateModel on ``<prefix>-*``, pass the serving role, its logs.

Neither SageMaker role can call SageMaker, pass a role or invoke anything, so code in a container cannot start
jobs or touch endpoints. IAM cannot tell one training job from another (SageMaker assumes the role the job
names, with nothing of the job in the session), so every training job may write under the model prefix.
Each role trusts one service, on behalf of the project's account only. ARNs carry the region's partition.
A few actions AWS authorises only on ``*`` (``sagemaker:ListTags`` for the integrations,
``ecr:GetAuthorizationToken``, ``cloudwatch:PutMetricData``, the latter limited by namespace).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from byoc_pipelines.asl import inputs
from byoc_pipelines.asl.definitions import IMAGE_OF
from byoc_pipelines.aws.permissions import PASSED_TO_SAGEMAKER, Permission, output_prefixes, patterns
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import DefinitionError

VERSION = "2012-10-17"
STATES_SERVICE, SAGEMAKER_SERVICE, LAMBDA_SERVICE = (
    "states.amazonaws.com",
    "sagemaker.amazonaws.com",
    "lambda.amazonaws.com",
)
SAGEMAKER_LOGS = "/aws/sagemaker/*"


def trust_policy(config: PipelineConfig, service: str, source_arn: str) -> dict[str, Any]:
    """``service`` may assume the role, only for resources of our account matching ``source_arn``."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                # Confused-deputy protection: only on behalf of our own account and resources.
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": config.account_id},
                    "ArnLike": {"aws:SourceArn": source_arn},
                },
            }
        ],
    }


def _sid(permission: Permission) -> str:
    """``SagemakerCreateTrainingJob``: the service and the first action of the statement."""
    service, _, name = permission.action.partition(":")
    return f"{service.title()}{name}"


def statements(permissions: Iterable[Permission]) -> list[dict[str, Any]]:
    """Permissions as few statements as possible without granting anything more.

    Each action (under one condition) collects its resources; actions with the same resources and condition
    then share a statement, so no action is ever granted on another action's resource.
    """
    by_action: dict[tuple[str, str], tuple[list[str], Permission]] = {}
    for permission in permissions:
        resources, _ = by_action.setdefault((permission.action, repr(permission.condition)), ([], permission))
        if permission.resource not in resources:
            resources.append(permission.resource)
    merged: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for (action, condition), (resources, first) in by_action.items():
        statement = merged.setdefault(
            (tuple(resources), condition),
            {"Sid": _sid(first), "Effect": "Allow", "Action": [], "Resource": resources},
        )
        statement["Action"].append(action)
        if first.condition:
            statement["Condition"] = {k: dict(v) for k, v in first.condition.items()}
    found = list(merged.values())
    seen: dict[str, int] = {}
    for statement in found:  # Sids must be unique within a policy
        seen[statement["Sid"]] = seen.get(statement["Sid"], 0) + 1
        if seen[statement["Sid"]] > 1:
            statement["Sid"] += str(seen[statement["Sid"]])
    return found


def _policy(permissions: Iterable[Permission]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": statements(permissions)}


def states_policy(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The Step Functions role: what the definitions' tasks call, nothing else."""
    return _policy(patterns(config, definitions))


def _container_policy(config: PipelineConfig, writes: list[tuple[str, str]]) -> dict[str, Any]:
    """A SageMaker role: images, data, code and models in; ``writes`` (bucket, prefix) out; logs, metrics."""
    bucket = config.arn("s3", config.bucket, region=False, account=False)
    logs = config.arn("logs", f"log-group:{SAGEMAKER_LOGS}")
    permissions = [
        *(
            Permission(f"ecr:{action}", config.arn("ecr", f"repository/{config.ecr_namespace}/*"))
            for action in ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability")
        ),
        Permission("ecr:GetAuthorizationToken", "*"),  # cannot be scoped to a resource
        Permission("s3:ListBucket", bucket),
        Permission("s3:GetObject", f"{bucket}/*"),
        # Writes only where these jobs put results: never the data, and never the code that jobs and endpoints run.
        *(
            Permission(action, config.arn("s3", f"{name}/{prefix}*", region=False, account=False))
            for name, prefix in writes
            for action in ("s3:PutObject", "s3:AbortMultipartUpload")
        ),
        *(
            Permission(f"logs:{action}", logs)
            for action in ("CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams")
        ),
        # PutMetricData has no resource; the namespace condition keeps it to SageMaker's metrics.
        Permission("cloudwatch:PutMetricData", "*", {"StringLike": {"cloudwatch:namespace": SAGEMAKER_LOGS}}),
    ]
    return _policy(permissions)


def _writes(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Where each SageMaker role writes: the S3 outputs of the definitions' jobs, for their sample inputs."""
    unknown = sorted(set(definitions) - set(IMAGE_OF))
    if unknown:
        raise DefinitionError(f"no sample input for definition(s) {', '.join(unknown)}: their S3 outputs are unknown")
    samples = {name: inputs.sample_input(name, config) for name in definitions}
    return output_prefixes(definitions, samples)


def training_policy(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The training jobs' role: write where the definitions' training jobs put their results, nowhere else."""
    return _container_policy(config, _writes(config, definitions)["training"])


def serving_policy(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The models' role (endpoints, transforms): write where the definitions' transforms put their results."""
    return _container_policy(config, _writes(config, definitions)["serving"])


def lambda_policy(config: PipelineConfig) -> dict[str, Any]:
    """The CreateModel function: that one call on ``<prefix>-*`` models, the SageMaker role, its own logs."""
    logs = config.arn("logs", f"log-group:/aws/lambda/{config.create_model_function}")
    permissions = [
        Permission("sagemaker:CreateModel", config.arn("sagemaker", f"model/{config.prefix}-*")),
        Permission("iam:PassRole", config.serving_role_arn, PASSED_TO_SAGEMAKER),
        Permission("logs:CreateLogGroup", logs),
        *(Permission(f"logs:{action}", f"{logs}:log-stream:*") for action in ("CreateLogStream", "PutLogEvents")),
    ]
    return _policy(permissions)


def trust_policies(config: PipelineConfig) -> dict[str, dict[str, Any]]:
    """Trust policy per role name."""
    return {
        config.states_role_name: trust_policy(
            config, STATES_SERVICE, config.arn("states", f"stateMachine:{config.prefix}-*")
        ),
        config.training_role_name: trust_policy(config, SAGEMAKER_SERVICE, config.arn("sagemaker", "*")),
        config.serving_role_name: trust_policy(config, SAGEMAKER_SERVICE, config.arn("sagemaker", "*")),
        config.lambda_role_name: trust_policy(
            config, LAMBDA_SERVICE, config.arn("lambda", f"function:{config.create_model_function}")
        ),
    }


def inline_policies(
    config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Inline policies per role name: ``{role: {policy name: document}}``."""
    return {
        config.states_role_name: {f"{config.prefix}-states": states_policy(config, definitions)},
        config.training_role_name: {f"{config.prefix}-training": training_policy(config, definitions)},
        config.serving_role_name: {f"{config.prefix}-serving": serving_policy(config, definitions)},
        config.lambda_role_name: {f"{config.prefix}-lambda": lambda_policy(config)},
    }


def documents(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every document deploy writes, by ``<role>/trust`` and ``<role>/<policy>``: what the policy linter reads."""
    found = {f"{role}/trust": trust for role, trust in trust_policies(config).items()}
    for role, named in inline_policies(config, definitions).items():
        found |= {f"{role}/{name}": document for name, document in named.items()}
    return found
