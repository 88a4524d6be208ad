"""Deploy code against moto (no AWS account): role and policies, Lambda, state machines, runs and endpoints."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

import boto3
from botocore.stub import Stubber
from moto import mock_aws

from byoc_pipelines import cli
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import deploy, endpoint, executions, policies
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import DeployError
from byoc_pipelines.sagemaker import requests
from byoc_pipelines.sagemaker.shapes import request_errors
from utils.aws import REGION, isolate_aws_env

ACCOUNT = "123456789012"  # moto's account
CONFIG = PipelineConfig(region=REGION, bucket="proj-bucket", prefix="proj")
# Our roles carry inline policies only (aws/policies.py), so moto's copy of every AWS managed policy stays unloaded:
# parsing it for each IAM backend (one per partition) cost about a second of CPU per test.
MOTO = {"lambda": {"use_docker": False}, "iam": {"load_aws_managed_policies": False}}
ANY_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path, fake_credentials=True)


@pytest.fixture
def aws(aws_env: None) -> Iterator[Any]:
    with mock_aws(config=MOTO):
        yield lambda service: boto3.client(service, region_name=REGION)


@pytest.fixture
def aws_executing(aws_env: None) -> Iterator[Any]:
    with mock_aws(config={**MOTO, "stepfunctions": {"execute_state_machine": True}}):
        yield lambda service: boto3.client(service, region_name=REGION)


def _no_sleep(_seconds: float) -> None:
    return None


def test_deploy_is_idempotent(aws: Any) -> None:
    clients = {s: aws(s) for s in ("iam", "stepfunctions", "lambda")}
    definitions = {name: defs.build(name, CONFIG) for name in defs.BUILDERS}
    first = deploy.deploy(clients, CONFIG, definitions, sleep=_no_sleep)
    definitions["chainer-mnist-batch"]["Comment"] = "changed"
    second = deploy.deploy(clients, CONFIG, definitions, sleep=_no_sleep)
    assert first == second
    kinds = ("states", "training", "serving", "lambda")
    roles = tuple(f"arn:aws:iam::{ACCOUNT}:role/proj-{kind}" for kind in kinds)
    assert tuple(first[f"{kind}_role"] for kind in kinds) == roles
    sfn = clients["stepfunctions"]
    deployed = sorted(m["name"] for m in sfn.list_state_machines()["stateMachines"])
    assert deployed == sorted(f"proj-{name}" for name in defs.BUILDERS)  # every image's (make new-image adds one)
    assert {"proj-chainer-mnist-batch", "proj-chainer-mnist-batch-lambda", "proj-keras-text-endpoint"} <= set(deployed)
    described = sfn.describe_state_machine(stateMachineArn=first["chainer-mnist-batch"])
    assert json.loads(described["definition"])["Comment"] == "changed"
    assert described["roleArn"] == first["states_role"]
    iam = clients["iam"]
    for kind in kinds:
        assert iam.list_role_policies(RoleName=f"proj-{kind}")["PolicyNames"] == [f"proj-{kind}"]
        assert iam.list_role_tags(RoleName=f"proj-{kind}")["Tags"] == [{"Key": "project", "Value": "proj"}]
    assert sfn.list_tags_for_resource(resourceArn=first["chainer-mnist-batch"])["tags"] == [
        {"key": "project", "value": "proj"}
    ]
    trusted = json.loads(json.dumps(iam.get_role(RoleName="proj-training")["Role"]["AssumeRolePolicyDocument"]))
    assert trusted["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    function = clients["lambda"].get_function(FunctionName="proj-create-model")["Configuration"]
    assert (function["Handler"], function["Role"]) == ("create_model.handler", first["lambda_role"])


def test_a_role_without_the_project_tag_is_refused_not_rewritten(aws: Any) -> None:
    iam = aws("iam")
    trust = json.dumps(policies.trust_policies(CONFIG)["proj-training"])
    iam.create_role(RoleName="proj-training", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="proj-training", PolicyName="theirs", PolicyDocument=json.dumps(ANY_S3))
    clients = {s: aws(s) for s in ("iam", "stepfunctions", "lambda")}
    with pytest.raises(DeployError, match="role proj-training exists without the tag project=proj"):
        deploy.deploy(
            clients, CONFIG, {"chainer-mnist-batch": defs.build("chainer-mnist-batch", CONFIG)}, sleep=_no_sleep
        )
    assert iam.list_role_policies(RoleName="proj-training")["PolicyNames"] == ["theirs"]
    assert aws("stepfunctions").list_state_machines()["stateMachines"] == []


def test_inline_policies_deploy_no_longer_writes_are_removed_from_our_roles(aws: Any) -> None:
    iam = aws("iam")
    trust = json.dumps(policies.trust_policies(CONFIG)["proj-states"])
    iam.create_role(RoleName="proj-states", AssumeRolePolicyDocument=trust, Tags=[{"Key": "project", "Value": "proj"}])
    iam.put_role_policy(RoleName="proj-states", PolicyName="proj-data", PolicyDocument=json.dumps(ANY_S3))
    deploy.ensure_roles(iam, CONFIG, {"keras-text-endpoint": defs.build("keras-text-endpoint", CONFIG)})
    assert iam.list_role_policies(RoleName="proj-states")["PolicyNames"] == ["proj-states"]


def test_lambda_package_is_reproducible() -> None:
    package = deploy.lambda_zip()
    assert package == deploy.lambda_zip()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.namelist() == ["create_model.py"]
        assert b"def handler(" in archive.read("create_model.py")


def test_create_state_machine_request_is_pinned_with_stubber() -> None:
    session = boto3.Session(aws_access_key_id="stub", aws_secret_access_key="stub", region_name=REGION)  # noqa: S106
    sfn = session.client("stepfunctions")
    definition = defs.build("keras-text-endpoint", CONFIG)
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:proj-keras-text-endpoint"
    with Stubber(sfn) as stub:
        stub.add_response("list_state_machines", {"stateMachines": []}, {})
        stub.add_response(
            "create_state_machine",
            {"stateMachineArn": arn, "creationDate": "2024-01-01T00:00:00Z"},
            {
                "name": "proj-keras-text-endpoint",
                "definition": json.dumps(definition, indent=2),
                "roleArn": CONFIG.role_arn_of(CONFIG.states_role_name),
                "type": "STANDARD",
                "tags": [{"key": "project", "value": "proj"}],
            },
        )
        role = CONFIG.role_arn_of(CONFIG.states_role_name)
        assert deploy.ensure_state_machine(sfn, "proj-keras-text-endpoint", definition, role, owner="proj") == (
            arn,
            True,
        )
        stub.assert_no_pending_responses()


def test_run_and_follow_an_execution(aws_executing: Any) -> None:
    sfn = aws_executing("stepfunctions")
    definition = {"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}
    role = CONFIG.role_arn_of(CONFIG.states_role_name)
    arn, created = deploy.ensure_state_machine(sfn, "proj-hello", definition, role, owner="proj")
    assert created
    execution = executions.start(sfn, arn, "run-1", {"a": 1})
    lines: list[str] = []
    described = executions.follow(sfn, execution, lines.append, poll_s=0.1, timeout_s=30)
    assert executions.outcome(described) == {"ok": 1}
    assert lines[0].startswith("#1 ExecutionStarted input=")
    assert lines[-1] == '#4 ExecutionSucceeded output={"ok":1}'
    assert executions.format_event(
        {"id": 3, "type": "TaskFailed", "taskFailedEventDetails": {"error": "E", "cause": "c" * 400}}
    ).startswith("#3 TaskFailed error=E cause=ccc")


def test_endpoint_lifecycle(aws: Any) -> None:
    sm = aws("sagemaker")
    spec = endpoint.EndpointSpec(
        "proj-keras-text",
        "img:latest",
        "s3://proj-bucket/m/model.tar.gz",
        f"arn:aws:iam::{ACCOUNT}:role/proj-pipelines",
    )
    waiting = endpoint.Waiting(1, 3)
    with endpoint.serving(sm, spec, waiting) as described:
        assert described["EndpointStatus"] == "InService"
        assert (
            sm.describe_model(ModelName="proj-keras-text-model")["PrimaryContainer"]["ModelDataUrl"]
            == spec.model_data_url
        )
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_models()["Models"] == []
    endpoint.endpoint_down(sm, "proj-keras-text", waiting=waiting)  # already gone: no error


class EndpointNeverInService:
    """A moto SageMaker client whose endpoint_in_service waiter gives up, as when the container fails /ping."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_waiter(self, name: str) -> Any:
        from botocore.exceptions import WaiterError

        if name != "endpoint_in_service":
            return self.client.get_waiter(name)

        class Waiter:
            def wait(self, **kwargs: Any) -> None:
                raise WaiterError(name, "Waiter encountered a terminal failure state", {"EndpointStatus": "Failed"})

        return Waiter()


def test_endpoint_is_deleted_when_a_step_fails(aws: Any) -> None:
    sm = aws("sagemaker")
    spec = endpoint.EndpointSpec("proj-broken", "img", "s3://b/m.tar.gz", f"arn:aws:iam::{ACCOUNT}:role/proj-pipelines")
    with pytest.raises(DeployError, match="proj-broken did not come up"):
        endpoint.endpoint_up(EndpointNeverInService(sm), spec, endpoint.Waiting(1, 2))
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_endpoint_up_refuses_an_endpoint_that_exists_and_leaves_it_alone(aws: Any) -> None:
    sm, waiting = aws("sagemaker"), endpoint.Waiting(1, 3)
    role = f"arn:aws:iam::{ACCOUNT}:role/proj-pipelines"
    endpoint.endpoint_up(sm, endpoint.EndpointSpec("proj-keras-text-endpoint", "img", "s3://b/1.tar.gz", role), waiting)
    again = endpoint.EndpointSpec("proj-keras-text-endpoint", "img", "s3://b/2.tar.gz", role)
    with pytest.raises(DeployError, match=r"exists \(InService on proj-keras-text-endpoint-config\): .* blue/green"):
        endpoint.endpoint_up(sm, again, waiting)
    # the first one's endpoint, config and model are all still there
    assert sm.describe_endpoint(EndpointName="proj-keras-text-endpoint")["EndpointStatus"] == "InService"
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [again.config_name]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [again.model_name]


def test_endpoint_down_deletes_the_config_and_model_the_endpoint_is_on(aws: Any) -> None:
    """As the endpoint workflow leaves them: named after the execution that deployed them, not the endpoint."""
    sm = aws("sagemaker")
    sm.create_model(**requests.model("proj-run2-model", "img", "s3://b/k", role_arn=CONFIG.serving_role_arn))
    sm.create_endpoint_config(**requests.endpoint_config("proj-run2-config", "proj-run2-model"))
    sm.create_endpoint(EndpointName="proj-keras-text-endpoint", EndpointConfigName="proj-run2-config")
    endpoint.endpoint_down(sm, "proj-keras-text-endpoint", waiting=endpoint.Waiting(1, 3))
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_endpoint_requests_match_botocore() -> None:
    assert request_errors("CreateModel", requests.model("m", "i", "s3://b/k", role_arn=CONFIG.serving_role_arn)) == []
    assert request_errors("CreateEndpointConfig", requests.endpoint_config("c", "m")) == []


def _pushed(aws: Any, repository: str = "byoc/chainer-mnist", tag: str = "1a2b3c4") -> tuple[str, str]:
    """An image in moto's ECR: ``(its revision-tag URI, its digest URI)``."""
    ecr = aws("ecr")
    uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"})
    image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]
    return f"{uri}:{tag}", f"{uri}@{image['imageId']['imageDigest']}"


def test_cli_deploy_run_status_and_endpoint(aws: Any, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--prefix", "proj", "--region", REGION, "deploy", "chainer-mnist-batch"], aws, out, err) == 0, (
        err.getvalue()
    )
    arns = json.loads(out.getvalue())
    assert arns["chainer-mnist-batch"].endswith(":stateMachine:proj-chainer-mnist-batch")
    by_tag, by_digest = _pushed(aws)
    out = io.StringIO()
    run = ["--prefix", "proj", "--region", REGION, "run", "chainer-mnist-batch", "--name", "r1", "--no-follow"]
    code = cli.main([*run, "--image", by_tag], aws, out, err)
    assert code == 0, err.getvalue()
    execution_arn = out.getvalue().split()[-1]
    sfn = aws("stepfunctions")
    sent = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    assert sent["image"] == by_digest  # the tag, resolved before anything runs
    assert (sent["role_arn"], sent["model_role_arn"]) == (CONFIG.training_role_arn, CONFIG.serving_role_arn)
    assert sent["outputs"]["model"] == "s3://byoc-sagemaker-data/models/chainer-mnist/r1/"
    out = io.StringIO()
    assert (
        cli.main(
            ["--prefix", "proj", "--region", REGION, "status", "--definition", "chainer-mnist-batch"], aws, out, err
        )
        == 0
    )
    assert "r1" in out.getvalue()
    args = ["--prefix", "proj", "--region", REGION]
    up = [*args, "endpoint-up", "--model-data", "s3://b/model.tar.gz", "--image", by_tag, "--delay", "1"]
    assert cli.main([*up, "--attempts", "2"], aws, io.StringIO(), err) == 0, err.getvalue()
    model = aws("sagemaker").describe_model(ModelName="proj-keras-text-endpoint-model")
    assert (model["PrimaryContainer"]["Image"], model["ExecutionRoleArn"]) == (by_digest, CONFIG.serving_role_arn)
    # the endpoint the keras-text-endpoint workflow creates and updates: named after its state machine
    described = aws("sagemaker").describe_endpoint(EndpointName="proj-keras-text-endpoint")
    assert described["EndpointStatus"] == "InService"
    assert cli.main([*args, "endpoint-down", "--delay", "1", "--attempts", "2"], aws, io.StringIO(), err) == 0
    assert aws("sagemaker").list_endpoints()["Endpoints"] == []


def test_cli_run_resolves_the_image_of_an_input_file(aws: Any, tmp_path: Path) -> None:
    assert _run_cli(aws, "deploy", "chainer-mnist-batch")[0] == 0
    by_tag, by_digest = _pushed(aws)
    given = inputs.execution_input("chainer-mnist-batch", CONFIG, by_tag, run="r3")
    (tmp_path / "input.json").write_text(json.dumps(given))
    code, out, err = _run_cli(aws, "run", "chainer-mnist-batch", "--no-follow", "--input", str(tmp_path / "input.json"))
    assert code == 0, err
    assert json.loads(aws("stepfunctions").describe_execution(executionArn=out.split()[-1])["input"])["image"] == (
        by_digest
    )


def test_a_state_machine_without_the_project_tag_is_refused_not_rewritten(aws: Any) -> None:
    sfn = aws("stepfunctions")
    role = CONFIG.role_arn_of(CONFIG.states_role_name)
    theirs = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(name="proj-chainer-mnist-batch", definition=json.dumps(theirs), roleArn=role)[
        "stateMachineArn"
    ]
    clients = {s: aws(s) for s in ("iam", "stepfunctions", "lambda")}
    definitions = {"chainer-mnist-batch": defs.build("chainer-mnist-batch", CONFIG)}
    with pytest.raises(DeployError, match="state machine proj-chainer-mnist-batch exists without the tag project=proj"):
        deploy.deploy(clients, CONFIG, definitions, sleep=_no_sleep)
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == theirs
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "project", "value": "someone-else"}])
    with pytest.raises(DeployError, match="without the tag project=proj"):
        deploy.deploy(clients, CONFIG, definitions, sleep=_no_sleep)


def test_cli_errors_are_one_line(aws: Any) -> None:
    err = io.StringIO()
    assert (
        cli.main(["--prefix", "nope", "--region", REGION, "run", "keras-text-endpoint"], aws, io.StringIO(), err) == 1
    )
    assert err.getvalue() == "error: state machine nope-keras-text-endpoint not found: deploy first\n"


def test_cli_validate_and_render(tmp_path: Path) -> None:
    out = io.StringIO()
    assert (
        cli.main(["validate", "chainer-mnist-batch", "--validators", "graph", "botocore"], None, out, io.StringIO())
        == 0
    )
    assert out.getvalue() == "chainer-mnist-batch: graph: ok\nchainer-mnist-batch: botocore: ok\n"
    assert (
        cli.main(
            ["render", "keras-text-endpoint", "--out", str(tmp_path), "--no-pictures"],
            None,
            io.StringIO(),
            io.StringIO(),
        )
        == 0
    )
    assert json.loads((tmp_path / "keras-text-endpoint.json").read_text()) == defs.build(
        "keras-text-endpoint", PipelineConfig()
    )


def _run_cli(aws: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--prefix", "proj", "--region", REGION, "--bucket", "proj-bucket", *argv], aws, out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_run_deploys_by_digest_and_uploads_the_script(aws: Any) -> None:
    assert _run_cli(aws, "deploy", "chainer-mnist-batch")[0] == 0
    ecr, s3 = aws("ecr"), aws("s3")
    s3.create_bucket(Bucket="proj-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    ecr.create_repository(repositoryName="byoc/chainer-mnist")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"})
    digest = ecr.put_image(repositoryName="byoc/chainer-mnist", imageManifest=manifest, imageTag="abc1234")["image"][
        "imageId"
    ]["imageDigest"]

    code, out, err = _run_cli(
        aws,
        *("run", "chainer-mnist-batch", "--name", "r2", "--no-follow", "--revision", "abc1234"),
        *("--source-dir", "examples/chainer-script", "--program", "chainer_mnist.py", "--instance-count", "2"),
    )
    assert code == 0, err
    sent = json.loads(aws("stepfunctions").describe_execution(executionArn=out.split()[-1])["input"])
    assert sent["image"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/byoc/chainer-mnist@{digest}"
    tarball = "s3://proj-bucket/code/chainer-mnist/r2/sourcedir.tar.gz"
    assert sent["hyperparameters"]["sagemaker_submit_directory"] == tarball
    assert sent["model_environment"] == {"SAGEMAKER_PROGRAM": "chainer_mnist.py", "SAGEMAKER_SUBMIT_DIRECTORY": tarball}
    assert sent["instance_count"] == 2
    uploaded = s3.get_object(Bucket="proj-bucket", Key="code/chainer-mnist/r2/sourcedir.tar.gz")["Body"].read()
    assert uploaded == deploy_sourcedir("examples/chainer-script")


def deploy_sourcedir(folder: str) -> bytes:
    from byoc_pipelines.sagemaker.script_mode import sourcedir_tarball

    return sourcedir_tarball(Path(__file__).resolve().parents[3] / folder)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image", "repo/chainer-mnist:latest"], "is not pinned"),
        (["--image", "repo/chainer-mnist"], "is not pinned"),
        (["--image", "registry.example/byoc/chainer-mnist:1a2b3c4"], "is not in ECR, so its tag cannot be resolved"),
        ([f"--image={ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/byoc/chainer-mnist:nope123"], "no image tagged nope123"),
        ([f"--image={ACCOUNT}.dkr.ecr.eu-west-3.amazonaws.com/byoc/chainer-mnist:abc"], "is in region eu-west-3"),
        (["--revision", "nope123"], "no image tagged nope123 in ECR repository byoc/chainer-mnist: push it first"),
    ],
)
def test_cli_run_refuses_a_moving_or_missing_image(aws: Any, argv: list[str], message: str) -> None:
    assert _run_cli(aws, "deploy", "chainer-mnist-batch")[0] == 0
    aws("ecr").create_repository(repositoryName="byoc/chainer-mnist")
    code, _, err = _run_cli(aws, "run", "chainer-mnist-batch", "--no-follow", *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--program", "chainer_mnist.py"], "--program needs --source-dir"),
        (["--source-dir", "examples/chainer-script", "--program", "train.py"], "is not a file in --source-dir"),
        (["--hyperparameter", "epochs"], "--hyperparameter takes KEY=VALUE"),
    ],
)
def test_cli_local_checks_its_arguments_before_anything_runs(tmp_path: Path, argv: list[str], message: str) -> None:
    err = io.StringIO()
    base = ["local", "chainer-mnist-batch", "--image", "byoc/chainer-mnist:latest", "--data", str(tmp_path)]
    assert cli.main([*base, "--root", str(tmp_path / "run"), *argv], None, io.StringIO(), err) == 2
    assert message in err.getvalue() and err.getvalue().count("\n") == 1
    assert not (tmp_path / "run").exists()
