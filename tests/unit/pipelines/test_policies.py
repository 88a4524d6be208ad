"""The four roles against what the definitions do: every state's integration is allowed, and nothing more.

The walk executes each definition on moto's interpreter with the sample input (script mode, two hosts), so the
names checked are the very names Step Functions would send, made from the execution name.
"""

from __future__ import annotations

import functools
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


@functools.cache
def _tasks(definition: str) -> tuple[validation.ScheduledTask, ...]:
    """The tasks the sample execution scheduled (read only): one execution on moto per definition for the module."""
    config = replace(CONFIG, endpoint_wait_seconds=0)
    tasks = validation.scheduled_tasks(
        DEFINITIONS[definition], inputs.sample_input(definition, config), PAYLOADS, region=CONFIG.region
    )
    assert tasks, definition
    return tuple(tasks)


def _walk(definition: str) -> list[tuple[str, permissions.Permission]]:
    """``(state, permission)`` for every task the sample execution scheduled, with its resolved request."""
    tasks = _tasks(definition)
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
    assert not [a for a in granted if a == "sagemaker:InvokeEndpoint" or a.endswith(":*")]
    # Deleting is for the failure path only, and only of what the execution creates (held to <prefix>-* names).
    assert {a for a in granted if "Delete" in a} == {
        "sagemaker:DeleteModel",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteEndpoint",
    }


SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}


def test_the_states_role_is_held_to_the_project_names_and_the_sagemaker_roles() -> None:
    policy = policies.states_policy(CONFIG, DEFINITIONS)
    job = CONFIG.arn("sagemaker", "training-job/proj-run-1-train")
    assert allows(policy, "sagemaker:CreateTrainingJob", job)
    assert not allows(policy, "sagemaker:CreateTrainingJob", CONFIG.arn("sagemaker", "training-job/other-train"))
    assert allows(policy, "iam:PassRole", CONFIG.training_role_arn, SAGEMAKER)
    assert allows(policy, "iam:PassRole", CONFIG.serving_role_arn, SAGEMAKER)
    assert not allows(policy, "iam:PassRole", CONFIG.role_arn_of(CONFIG.states_role_name), SAGEMAKER)
    assert not allows(policy, "iam:PassRole", CONFIG.training_role_arn, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_the_lambda_role_can_do_what_the_function_does_and_no_more() -> None:
    policy = policies.lambda_policy(CONFIG)
    lambda_tasks = [p for state, p in _walk("chainer-mnist-batch-lambda") if p.action == "lambda:InvokeFunction"]
    assert len(lambda_tasks) == 1
    model = CONFIG.arn("sagemaker", "model/proj-validate-sample-model")
    assert allows(policy, "sagemaker:CreateModel", model)
    assert allows(policy, "iam:PassRole", CONFIG.serving_role_arn, SAGEMAKER)
    assert not allows(policy, "iam:PassRole", CONFIG.training_role_arn, SAGEMAKER)  # models run as the serving role
    assert {a for a in granted_actions(policy) if not a.startswith("logs:")} == {
        "sagemaker:CreateModel",
        "iam:PassRole",
    }


def _object(uri: str, key: str = "x") -> str:
    return CONFIG.arn("s3", uri.removeprefix("s3://").rstrip("/") + f"/{key}", region=False, account=False)


def _container_policies() -> dict[str, dict[str, Any]]:
    return {
        "training": policies.training_policy(CONFIG, DEFINITIONS),
        "serving": policies.serving_policy(CONFIG, DEFINITIONS),
    }


@pytest.mark.parametrize("role", ["training", "serving"])
def test_sagemaker_roles_read_their_inputs_and_never_write_data_or_code(role: str) -> None:
    policy = _container_policies()[role]
    given = inputs.sample_input("chainer-mnist-batch", CONFIG)
    code = given["hyperparameters"]["sagemaker_submit_directory"]
    for uri in [*(c["uri"] for c in given["channels"]), given["transform_input"], given["outputs"]["model"]]:
        assert allows(policy, "s3:GetObject", _object(uri))
    for uri in [*(c["uri"] for c in given["channels"]), given["transform_input"]]:
        assert not allows(policy, "s3:PutObject", _object(uri))
    code_object = CONFIG.arn("s3", code.removeprefix("s3://"), region=False, account=False)
    assert allows(policy, "s3:GetObject", code_object)
    assert not allows(policy, "s3:PutObject", code_object)  # jobs and endpoints run that code
    assert not allows(policy, "s3:PutObject", "arn:aws:s3:::another-bucket/models/x")
    assert allows(policy, "ecr:BatchGetImage", CONFIG.arn("ecr", "repository/byoc/chainer-mnist"))
    assert not allows(policy, "ecr:BatchGetImage", CONFIG.arn("ecr", "repository/other/image"))


def test_training_jobs_write_models_and_models_write_only_transform_outputs() -> None:
    roles = _container_policies()
    given = inputs.sample_input("chainer-mnist-batch", CONFIG)
    model = _object(given["outputs"]["model"], "earlier-run-train/output/model.tar.gz")
    transform = _object(given["outputs"]["transform"], "test.npy.out")
    assert allows(roles["training"], "s3:PutObject", model)
    assert not allows(roles["training"], "s3:PutObject", transform)
    # An endpoint runs code that came with its model (a user module, inference.py): it can rewrite no model.
    assert not allows(roles["serving"], "s3:PutObject", model)
    assert allows(roles["serving"], "s3:PutObject", transform)


@pytest.mark.parametrize("definition", list(defs.BUILDERS))
def test_every_job_of_every_definition_may_write_its_outputs_as_its_role_and_only_that_role(definition: str) -> None:
    roles = _container_policies()
    tasks = _tasks(definition)
    model = next(t.parameters for t in tasks if t.state == "Create Model")
    assert model.get("Payload", model)["ExecutionRoleArn"] == CONFIG.serving_role_arn  # native or via the Lambda
    written = 0
    for task in tasks:
        found = permissions.outputs(f"arn:aws:states:::{task.resource_type}:{task.resource}", task.parameters)
        if found is None:
            continue
        writer, uris = found
        if writer == "training":
            assert task.parameters["RoleArn"] == CONFIG.training_role_arn
        for uri in uris:
            target = _object(uri, "job/output/model.tar.gz")
            assert allows(roles[writer], "s3:PutObject", target), (task.state, uri)
            assert not any(allows(p, "s3:PutObject", target) for w, p in roles.items() if w != writer), task.state
            written += 1
    assert written >= 1


def test_written_prefixes_come_from_what_the_definitions_write() -> None:
    assert permissions.output_prefixes(DEFINITIONS, {n: inputs.sample_input(n, CONFIG) for n in DEFINITIONS}) == {
        "training": [("proj-data", "models/")],
        "serving": [("proj-data", "transform/")],
    }
    moved = {"chainer-mnist-batch": defs.build("chainer-mnist-batch", CONFIG)}  # checkpoints: a States.Format
    moved["chainer-mnist-batch"]["States"]["Train Model"]["Parameters"]["CheckpointConfig"]["S3Uri.$"] = (
        "States.Format('{}{}/checkpoints/', $.outputs.transform, $.names.training_job)"
    )
    sample = {"chainer-mnist-batch": inputs.sample_input("chainer-mnist-batch", CONFIG)}
    assert permissions.output_prefixes(moved, sample)["training"] == [
        ("proj-data", "models/"),
        ("proj-data", "transform/"),
    ]
    moved["chainer-mnist-batch"]["States"]["Train Model"]["Parameters"]["CheckpointConfig"]["S3Uri.$"] = (
        "States.Format('s3://{}/checkpoints/', $.names.training_job)"  # a bucket named at run time
    )
    with pytest.raises(DefinitionError, match=r"its S3 prefix is unknown \(s3://\*/checkpoints/\)"):
        permissions.output_prefixes(moved, sample)
    broken = {"chainer-mnist-batch": defs.build("chainer-mnist-batch", CONFIG)}
    broken["chainer-mnist-batch"]["States"]["Train Model"]["Parameters"]["OutputDataConfig"] = {
        "S3OutputPath.$": "$.outputs.nowhere"
    }
    with pytest.raises(DefinitionError, match=r"\$\.outputs\.nowhere: the sample input has no such value"):
        policies.training_policy(CONFIG, broken)


@pytest.mark.parametrize("role", ["training", "serving"])
@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("sagemaker:CreateTrainingJob", "training-job/proj-x"),
        ("sagemaker:CreateEndpoint", "endpoint/proj-x"),
        ("sagemaker:DeleteEndpoint", "endpoint/proj-x"),
        ("sagemaker:InvokeEndpoint", "endpoint/proj-x"),
    ],
)
def test_code_in_a_container_cannot_drive_sagemaker(role: str, action: str, resource: str) -> None:
    policy = _container_policies()[role]
    assert not allows(policy, action, CONFIG.arn("sagemaker", resource))
    for passed in (CONFIG.training_role_arn, CONFIG.serving_role_arn):
        assert not allows(policy, "iam:PassRole", passed, SAGEMAKER)
    assert not allows(policy, "lambda:InvokeFunction", CONFIG.arn("lambda", f"function:{CONFIG.create_model_function}"))


def test_every_statement_on_any_resource_is_one_of_these() -> None:
    """``Resource: "*"`` only where AWS allows nothing narrower, each pinned here by name."""
    documents = policies.documents(CONFIG, DEFINITIONS)
    anywhere = sorted(
        (name, statement["Sid"], tuple(statement["Action"]), json.dumps(statement.get("Condition", {})))
        for name, document in documents.items()
        if not name.endswith("/trust")
        for statement in document["Statement"]
        if statement["Resource"] in ("*", ["*"])
    )
    metrics = json.dumps({"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}})
    assert anywhere == sorted(
        [
            ("proj-states/proj-states", "SagemakerListTags", ("sagemaker:ListTags",), "{}"),
            *(
                (f"proj-{role}/proj-{role}", sid, (action,), condition)
                for role in ("training", "serving")
                for sid, action, condition in (
                    ("EcrGetAuthorizationToken", "ecr:GetAuthorizationToken", "{}"),
                    ("CloudwatchPutMetricData", "cloudwatch:PutMetricData", metrics),
                )
            ),
        ]
    )


def test_each_role_trusts_one_service_for_this_account_only() -> None:
    trusts = policies.trust_policies(CONFIG)
    services = {role: doc["Statement"][0]["Principal"]["Service"] for role, doc in trusts.items()}
    assert services == {
        "proj-states": "states.amazonaws.com",
        "proj-training": "sagemaker.amazonaws.com",
        "proj-serving": "sagemaker.amazonaws.com",
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
    broken: dict[str, Any] = policies.training_policy(CONFIG, DEFINITIONS)
    broken["Statement"].append(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::proj-data"}  # a bucket, not objects
    )
    findings = policy_lint.lint({"proj-training/proj-training": broken})
    assert findings and all(f.startswith("proj-training/proj-training: RESOURCE_MISMATCH") for f in findings)
