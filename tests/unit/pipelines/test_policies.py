"""The three roles against what the definitions do: every state's integration is allowed, and nothing more.

The walk executes each definition on moto's interpreter with the sample input (script mode, two hosts), so the
names checked are the very names Step Functions would send, made from the execution name.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines import validation
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import permissions, policies, policy_lint
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import DefinitionError
from utils.iam import allows, granted_actions

CONFIG = PipelineConfig(prefix="proj", bucket="proj-data", region="eu-west-1", account_id="111122223333")
DEFINITIONS = {name: defs.build(name, CONFIG) for name in defs.BUILDERS}
PAYLOADS = {CONFIG.create_model_function: "CreateModel"}


def _context(permission: permissions.Permission) -> dict[str, str]:
    return {key: value for tests in permission.condition.values() for key, value in tests.items()}


def _walk(definition: str) -> list[tuple[str, permissions.Permission]]:
    """``(state, permission)`` for every task the sample execution scheduled, with its resolved request."""
    config = replace(CONFIG, endpoint_wait_seconds=0)
    tasks = validation.scheduled_tasks(
        DEFINITIONS[definition], inputs.sample_input(definition, config), PAYLOADS, region=CONFIG.region
    )
    assert tasks, definition
    return [
        (task.state, permission)
        for task in tasks
        for permission in permissions.required(
            CONFIG, f"arn:aws:states:::{task.resource_type}:{task.resource}", task.parameters
        )
    ]


@pytest.mark.parametrize("definition", list(defs.BUILDERS))
def test_every_state_of_every_definition_is_allowed_to_the_states_role(definition: str) -> None:
    states_policy = policies.states_policy(CONFIG, DEFINITIONS)
    walked = _walk(definition)
    denied = [(state, p) for state, p in walked if not allows(states_policy, p.action, p.resource, _context(p))]
    assert denied == []
    assert {p.action for _, p in walked} >= {"sagemaker:CreateTrainingJob", "sagemaker:ListTags", "iam:PassRole"}


def test_the_states_role_has_no_action_that_no_state_uses() -> None:
    used = {p.action for definition in defs.BUILDERS for _, p in _walk(definition)}
    granted = granted_actions(policies.states_policy(CONFIG, DEFINITIONS))
    assert granted == used
    assert not [a for a in granted if "Delete" in a or a == "sagemaker:InvokeEndpoint" or a.endswith(":*")]


def test_the_states_role_is_held_to_the_project_names_and_the_sagemaker_role() -> None:
    policy = policies.states_policy(CONFIG, DEFINITIONS)
    job = CONFIG.arn("sagemaker", "training-job/proj-run-1-train")
    assert allows(policy, "sagemaker:CreateTrainingJob", job)
    assert not allows(policy, "sagemaker:CreateTrainingJob", CONFIG.arn("sagemaker", "training-job/other-train"))
    sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert allows(policy, "iam:PassRole", CONFIG.role_arn, sagemaker)
    assert not allows(policy, "iam:PassRole", CONFIG.role_arn_of(CONFIG.states_role_name), sagemaker)
    assert not allows(policy, "iam:PassRole", CONFIG.role_arn, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_lambda_role_can_do_what_the_function_does_and_no_more() -> None:
    policy = policies.lambda_policy(CONFIG)
    lambda_tasks = [p for state, p in _walk("chainer-mnist-batch-lambda") if p.action == "lambda:InvokeFunction"]
    assert len(lambda_tasks) == 1
    model = CONFIG.arn("sagemaker", "model/proj-validate-sample-model")
    assert allows(policy, "sagemaker:CreateModel", model)
    assert allows(policy, "iam:PassRole", CONFIG.role_arn, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert {a for a in granted_actions(policy) if not a.startswith("logs:")} == {
        "sagemaker:CreateModel",
        "iam:PassRole",
    }


def _object(uri: str, key: str = "x") -> str:
    return CONFIG.arn("s3", uri.removeprefix("s3://").rstrip("/") + f"/{key}", region=False, account=False)


def test_sagemaker_containers_read_inputs_and_write_only_models_and_transform_outputs() -> None:
    policy = policies.sagemaker_policy(CONFIG)
    given = inputs.sample_input("chainer-mnist-batch", CONFIG)
    code = given["hyperparameters"]["sagemaker_submit_directory"]
    reads = [*(c["uri"] for c in given["channels"]), given["transform_input"]]
    for uri in reads:
        assert allows(policy, "s3:GetObject", _object(uri))
        assert not allows(policy, "s3:PutObject", _object(uri))
    code_object = CONFIG.arn("s3", code.removeprefix("s3://"), region=False, account=False)
    assert allows(policy, "s3:GetObject", code_object)
    assert not allows(policy, "s3:PutObject", code_object)  # jobs and endpoints run that code
    for uri in given["outputs"].values():
        assert allows(policy, "s3:PutObject", _object(uri, "job/output/model.tar.gz"))
    assert not allows(policy, "s3:PutObject", "arn:aws:s3:::another-bucket/models/x")
    assert allows(policy, "ecr:BatchGetImage", CONFIG.arn("ecr", "repository/byoc/chainer-mnist"))
    assert not allows(policy, "ecr:BatchGetImage", CONFIG.arn("ecr", "repository/other/image"))


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("sagemaker:CreateTrainingJob", "training-job/proj-x"),
        ("sagemaker:CreateEndpoint", "endpoint/proj-x"),
        ("sagemaker:DeleteEndpoint", "endpoint/proj-x"),
        ("sagemaker:InvokeEndpoint", "endpoint/proj-x"),
    ],
)
def test_code_in_a_container_cannot_drive_sagemaker(action: str, resource: str) -> None:
    policy = policies.sagemaker_policy(CONFIG)
    assert not allows(policy, action, CONFIG.arn("sagemaker", resource))
    assert not allows(policy, "iam:PassRole", CONFIG.role_arn, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not allows(policy, "lambda:InvokeFunction", CONFIG.arn("lambda", f"function:{CONFIG.create_model_function}"))


def test_each_role_trusts_one_service_for_this_account_only() -> None:
    trusts = policies.trust_policies(CONFIG)
    services = {role: doc["Statement"][0]["Principal"]["Service"] for role, doc in trusts.items()}
    assert services == {
        "proj-states": "states.amazonaws.com",
        "proj-sagemaker": "sagemaker.amazonaws.com",
        "proj-lambda": "lambda.amazonaws.com",
    }
    for document in trusts.values():
        condition = document["Statement"][0]["Condition"]
        assert condition["StringEquals"] == {"aws:SourceAccount": "111122223333"}
        assert condition["ArnLike"]["aws:SourceArn"].startswith("arn:aws:")


def test_arns_carry_the_partition_of_the_region() -> None:
    china = replace(CONFIG, region="cn-northwest-1")
    text = json.dumps(policies.documents(china, {n: defs.build(n, china) for n in defs.BUILDERS}))
    assert "arn:aws:" not in text
    assert "arn:aws-cn:sagemaker:cn-northwest-1:111122223333:training-job/proj-*" in text


def test_an_integration_without_known_permissions_is_an_error() -> None:
    with pytest.raises(
        DefinitionError, match="no IAM permissions known for arn:aws:states:::sagemaker:createProcessingJob"
    ):
        permissions.required(CONFIG, "arn:aws:states:::sagemaker:createProcessingJob.sync", {})


def test_statements_never_grant_an_action_on_another_actions_resource() -> None:
    granted = policies.statements(
        [
            permissions.Permission("sagemaker:CreateEndpoint", "endpoint/a"),
            permissions.Permission("sagemaker:CreateEndpoint", "endpoint-config/a"),
            permissions.Permission("sagemaker:DescribeEndpoint", "endpoint/a"),
            permissions.Permission("sagemaker:CreateModel", "model/a"),
            permissions.Permission("sagemaker:DescribeModel", "model/a"),
        ]
    )
    assert [(s["Action"], s["Resource"]) for s in granted] == [
        (["sagemaker:CreateEndpoint"], ["endpoint/a", "endpoint-config/a"]),
        (["sagemaker:DescribeEndpoint"], ["endpoint/a"]),
        (["sagemaker:CreateModel", "sagemaker:DescribeModel"], ["model/a"]),
    ]
    assert len({s["Sid"] for s in granted}) == len(granted)


def test_parliament_passes_our_policies_and_catches_a_wrong_resource() -> None:
    assert policy_lint.lint(policies.documents(CONFIG, DEFINITIONS)) == []
    broken: dict[str, Any] = policies.sagemaker_policy(CONFIG)
    broken["Statement"].append(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::proj-data"}  # a bucket, not objects
    )
    findings = policy_lint.lint({"proj-sagemaker/proj-sagemaker": broken})
    assert findings and all(f.startswith("proj-sagemaker/proj-sagemaker: RESOURCE_MISMATCH") for f in findings)
