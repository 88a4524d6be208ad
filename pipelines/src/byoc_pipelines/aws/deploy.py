"""Create or update what the workflows need on AWS: four roles, the CreateModel function, the state machines.

Every function takes its boto3 clients as arguments and is idempotent: a second deploy updates in place. A role
of the same name that does not carry the project's tag is someone else's: deploy stops instead of rewriting it.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from byoc_pipelines.asl.arns import integration
from byoc_pipelines.aws.policies import inline_policies, trust_policies
from byoc_pipelines.config import PROJECT_TAG, PipelineConfig
from byoc_pipelines.errors import DeployError
from byoc_pipelines.functions import LAMBDA_SOURCE

logger = logging.getLogger(__name__)

LAMBDA_RUNTIME = "python3.12"
LAMBDA_HANDLER = "create_model.handler"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same source gives the same zip (and CodeSha256)
# A new role takes a few seconds to become assumable by Step Functions and Lambda.
PROPAGATION_ERRORS = ("InvalidParameterValueException", "AccessDeniedException", "InvalidArn")
T = TypeVar("T")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _retry_propagation(call: Callable[[], T], sleep: Callable[[float], None], attempts: int = 6) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if _code(exc) not in PROPAGATION_ERRORS or attempt == attempts:
                raise
            logger.info("role not usable yet (%s), retrying in %d s", _code(exc), 5 * attempt)
            sleep(5.0 * attempt)
    raise AssertionError("unreachable")


def _is_ours(iam: Any, role_name: str, config: PipelineConfig) -> bool:
    tags = iam.list_role_tags(RoleName=role_name).get("Tags", [])
    return {"Key": PROJECT_TAG, "Value": config.prefix} in tags


def ensure_role(
    iam: Any, config: PipelineConfig, role_name: str, trust: Mapping[str, Any], policies: Mapping[str, Any]
) -> str:
    """Role ``role_name`` with exactly ``trust`` and the inline ``policies``; returns its ARN.

    An existing role is updated only if it carries ``project=<prefix>``: a same-named role of someone else is
    refused (:class:`DeployError`), never rewritten. Inline policies of ours that deploy no longer writes go.
    """
    document = json.dumps(trust)
    tags = [{"Key": PROJECT_TAG, "Value": config.prefix}]
    description = f"{config.prefix} BYO-container pipelines: {role_name}"
    try:
        role = iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=document, Description=description, Tags=tags
        )
        logger.info("created role %s", role["Role"]["Arn"])
    except ClientError as exc:
        if _code(exc) != "EntityAlreadyExists":
            raise
        if not _is_ours(iam, role_name, config):
            raise DeployError(
                f"role {role_name} exists without the tag {PROJECT_TAG}={config.prefix}: it is not this project's, "
                "so deploy leaves it alone; delete or rename it, or deploy with another --prefix"
            ) from None
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=document)
        role = iam.get_role(RoleName=role_name)
        logger.info("updated role %s", role["Role"]["Arn"])
    for name, policy in policies.items():
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(policy))
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        if name not in policies:
            iam.delete_role_policy(RoleName=role_name, PolicyName=name)
            logger.info("deleted inline policy %s of role %s (no longer written)", name, role_name)
    return str(role["Role"]["Arn"])


def ensure_roles(iam: Any, config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The Step Functions, training, serving and Lambda roles; their ARNs by role name."""
    trusts, policies = trust_policies(config), inline_policies(config, definitions)
    return {name: ensure_role(iam, config, name, trusts[name], policies[name]) for name in trusts}


def lambda_zip(source: Path = LAMBDA_SOURCE) -> bytes:
    """A deployment package holding the handler module, byte-identical for identical source."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(source.name, date_time=ZIP_DATE)
        info.external_attr = 0o644 << 16
        archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def ensure_function(
    lambda_client: Any,
    config: PipelineConfig,
    role_arn: str,
    package: bytes,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create the CreateModel function, or replace the code and role of ours (tagged); returns its ARN."""
    name = config.create_model_function
    try:
        existing = lambda_client.get_function(FunctionName=name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        created = _retry_propagation(
            lambda: lambda_client.create_function(
                FunctionName=name,
                Runtime=LAMBDA_RUNTIME,
                Role=role_arn,
                Handler=LAMBDA_HANDLER,
                Code={"ZipFile": package},
                Description="Creates a SageMaker model from a CreateModel request (Step Functions Lambda variant)",
                Timeout=60,
                Tags={PROJECT_TAG: config.prefix},
            ),
            sleep,
        )
        logger.info("created function %s", created["FunctionArn"])
        return str(created["FunctionArn"])
    if existing.get("Tags", {}).get(PROJECT_TAG) != config.prefix:
        raise DeployError(
            f"function {name} exists without the tag {PROJECT_TAG}={config.prefix}; deploy leaves it alone"
        )
    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=package)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    lambda_client.update_function_configuration(FunctionName=name, Role=role_arn, Handler=LAMBDA_HANDLER)
    logger.info("updated function %s", updated["FunctionArn"])
    return str(updated["FunctionArn"])


def find_state_machine(sfn: Any, name: str) -> str | None:
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return str(machine["stateMachineArn"])
    return None


def ensure_state_machine(
    sfn: Any,
    name: str,
    definition: Mapping[str, Any],
    role_arn: str,
    *,
    owner: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, bool]:
    """Create the state machine tagged ``project=<owner>``, or update ours; ``(arn, created)``.

    A same-named state machine without that tag is someone else's: :class:`DeployError`, never rewritten.
    """
    body = json.dumps(definition, indent=2)
    arn = find_state_machine(sfn, name)
    if arn is None:
        tags = [{"key": PROJECT_TAG, "value": owner}]
        created = _retry_propagation(
            lambda: sfn.create_state_machine(name=name, definition=body, roleArn=role_arn, type="STANDARD", tags=tags),
            sleep,
        )
        logger.info("created state machine %s", created["stateMachineArn"])
        return str(created["stateMachineArn"]), True
    tags = sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])
    if {"key": PROJECT_TAG, "value": owner} not in tags:
        raise DeployError(
            f"state machine {name} exists without the tag {PROJECT_TAG}={owner}: it is not this project's, so "
            "deploy leaves it alone; delete or tag it, or deploy with another --prefix"
        )
    sfn.update_state_machine(stateMachineArn=arn, definition=body, roleArn=role_arn)
    logger.info("updated state machine %s", arn)
    return arn, False


def deploy(
    clients: Mapping[str, Any],
    config: PipelineConfig,
    definitions: Mapping[str, Mapping[str, Any]],
    package: bytes | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Role, then the Lambda function if a definition invokes it, then each state machine.

    ``clients`` holds ``iam``, ``stepfunctions`` and (for the Lambda variant) ``lambda`` clients. Returns the
    ARNs by name: the four roles (``states_role``, ``training_role``, ``serving_role``, ``lambda_role``),
    ``function`` (when deployed) and each definition's name. Executions pass ``training_role`` as their
    ``role_arn`` and ``serving_role`` as their ``model_role_arn``.
    """
    try:
        roles = ensure_roles(clients["iam"], config, definitions)
        arns = {
            "states_role": roles[config.states_role_name],
            "training_role": roles[config.training_role_name],
            "serving_role": roles[config.serving_role_name],
            "lambda_role": roles[config.lambda_role_name],
        }
        if any(_invokes_lambda(d) for d in definitions.values()):
            package = package or lambda_zip()
            arns["function"] = ensure_function(clients["lambda"], config, arns["lambda_role"], package, sleep)
        for name, definition in definitions.items():
            machine = config.state_machine_name(name)
            sfn = clients["stepfunctions"]
            arns[name], _ = ensure_state_machine(
                sfn, machine, definition, arns["states_role"], owner=config.prefix, sleep=sleep
            )
    except ClientError as exc:
        raise DeployError(f"deploy failed: {exc}") from exc
    return arns


def _invokes_lambda(definition: Mapping[str, Any]) -> bool:
    return any(
        integration(str(state.get("Resource", ""))).startswith("lambda:") for state in definition["States"].values()
    )
