"""The moto adapter: the patched factory still exists, .sync polling, retry on throttling, failures caught."""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from botocore.exceptions import ClientError

from byoc_pipelines import functions
from byoc_pipelines.asl import blue_green, inputs
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.aws import executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.local import stepfunctions as sfn_local
from utils.fake_sagemaker import FakeSageMaker, client_error

CONFIG = PipelineConfig(endpoint_wait_seconds=0, retry_interval_seconds=1)


def test_moto_is_the_pinned_version_and_the_patched_factory_exists() -> None:
    """Fails loudly when a moto upgrade moves the seam the adapter patches (see stepfunctions-local.md §3)."""
    import moto

    assert moto.__version__ == "5.2.5", "re-verify byoc_pipelines.local against this moto, then update the pin"
    module = importlib.import_module(sfn_local.FACTORY_MODULE)
    assert callable(module.state_task_service_for)
    task_for = importlib.import_module(sfn_local.FACTORY_MODULE).state_task_for
    assert "state_task_service_for" in task_for.__code__.co_names


def test_adapter_restores_the_original_factory() -> None:
    module = sfn_local.factory_module()
    original = module.state_task_service_for
    with sfn_local.adapter(sfn_local.Integrations(FakeSageMaker())):
        assert module.state_task_service_for is not original
    assert module.state_task_service_for is original


def _run(
    name: str, fake: FakeSageMaker, config: PipelineConfig = CONFIG, execution: str = "exec-1"
) -> tuple[dict, list[dict]]:
    return sfn_local.execute(
        defs.build(name, config),
        inputs.sample_input(name, config),
        sfn_local.Integrations(fake, functions.in_process(config, fake)),
        name=execution,
        timeout_s=60,
        retry_wait_scale=0.01,
    )


@pytest.mark.parametrize("name", list(defs.BUILDERS))
def test_definitions_succeed_with_a_validating_fake(name: str) -> None:
    fake = FakeSageMaker(creating_polls=1)
    described, events = _run(name, fake)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    operations = [op for op, _ in fake.calls]
    assert operations[:2] == ["CreateTrainingJob", "DescribeTrainingJob"]
    assert "CreateModel" in operations
    output = executions.outcome(described)
    assert output["training"]["ModelArtifacts"] == (
        f"{output['outputs']['model'].rstrip('/')}/byoc-exec-1-train/output/model.tar.gz"
    )
    if name.startswith("keras"):
        assert operations[-2:] == ["DescribeEndpoint", "DescribeEndpoint"]  # Creating, then InService
        assert list(executions.state_names(events)).count("Wait For Endpoint") == 2


def test_throttled_create_is_retried() -> None:
    fake = FakeSageMaker(throttle={"CreateTrainingJob": 1})
    described, events = _run("chainer-mnist-batch", fake)
    assert described["status"] == "SUCCEEDED"
    failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["SageMaker.AmazonSageMakerException"]
    assert [op for op, _ in fake.calls].count("CreateTrainingJob") == 2


def test_failed_training_job_takes_the_failure_path_and_fails_with_its_cause() -> None:
    fake = FakeSageMaker(failing_jobs={"byoc-exec-1-train"})
    described, events = _run("chainer-mnist-batch", fake)
    assert described["status"] == "FAILED"
    assert described["error"] == "PipelineFailed"
    assert described["cause"].startswith("States.TaskFailed: ")
    assert "unknown hyperparameter" in described["cause"]
    entered = list(executions.state_names(events))
    assert entered[entered.index("Train Model") + 1 :] == [
        "Stop Training Job",
        "Stop Transform Job",
        "Delete Model",
        "Pipeline Failed",
    ]
    assert "CreateModel" not in [op for op, _ in fake.calls]
    # Nothing ran or was created, so each clean-up call fails, is retried once, and the path goes on.
    assert [op for op, _ in fake.calls].count("StopTrainingJob") == 2


def test_a_failure_after_create_model_deletes_the_model() -> None:
    class FailingTransform(FakeSageMaker):
        def _CreateTransformJob(self, request: dict) -> dict:
            raise client_error("ValidationException", "no capacity for you", "CreateTransformJob")

    fake = FailingTransform()
    described, _ = _run("chainer-mnist-batch", fake)
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    assert described["cause"].startswith("SageMaker.AmazonSageMakerException: no capacity for you")
    assert ("DeleteModel", {"ModelName": "byoc-exec-1-model"}) in fake.calls
    assert fake.live() == set()


def test_keras_failure_path_deletes_endpoint_config_and_model() -> None:
    class FailingEndpoint(FakeSageMaker):
        def _CreateEndpoint(self, request: dict) -> dict:
            raise client_error("ValidationException", "endpoint quota", "CreateEndpoint")

    fake = FailingEndpoint()
    described, events = _run("keras-text-endpoint", fake)
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    assert {"byoc-exec-1-config", "byoc-exec-1-model"} <= {
        r.get("EndpointConfigName", r.get("ModelName")) for _, r in fake.calls
    }
    assert fake.live() == set()
    assert list(executions.state_names(events))[-5:] == [
        "Stop Training Job",
        "Endpoint Created Here?",  # no: CreateEndpoint failed, so there is no endpoint of this execution to delete
        "Delete Endpoint Config",
        "Delete Model",
        "Pipeline Failed",
    ]


def test_resource_limit_is_retried_by_its_own_retrier() -> None:
    fake = FakeSageMaker(throttle={"CreateModel": 2}, throttle_code="ResourceLimitExceeded")
    described, events = _run("chainer-mnist-batch", fake)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["SageMaker.ResourceLimitExceededException"] * 2


def test_lambda_error_fails_the_execution() -> None:
    def broken(event: dict) -> dict:
        raise ValueError("no model for you")

    config = replace(CONFIG, max_attempts=1)
    described, _ = sfn_local.execute(
        defs.build("chainer-mnist-batch-lambda", config),
        inputs.sample_input("chainer-mnist-batch-lambda", config),
        sfn_local.Integrations(FakeSageMaker(), {config.create_model_function: broken}),
        name="exec-2",
        timeout_s=60,
        retry_wait_scale=0.01,
    )
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    assert described["cause"].startswith("ValueError: ")
    assert "no model for you" in described["cause"]


@pytest.mark.parametrize("reason", ["The primary container did not pass the ping health check", None])
def test_an_endpoint_that_ends_failed_is_deleted_and_the_execution_fails_with_its_reason(reason: str | None) -> None:
    class FailingEndpoint(FakeSageMaker):
        def _DescribeEndpoint(self, request: dict) -> dict:
            failed = {**super()._DescribeEndpoint(request), "EndpointStatus": "Failed"}
            return failed | ({"FailureReason": reason} if reason else {})

    fake = FailingEndpoint()
    described, events = _run("keras-text-endpoint", fake)
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    given = reason or "DescribeEndpoint gives no FailureReason"
    assert described["cause"] == f"EndpointFailed: Endpoint byoc-keras-text-endpoint is Failed: {given}"
    polled = ["Endpoint Ready?", "Endpoint Failed", "Stop Training Job", "Endpoint Created Here?", "Delete Endpoint"]
    if not reason:
        polled[1:1] = ["No Failure Reason", "Endpoint Ready?"]
    entered = list(executions.state_names(events))
    assert entered[entered.index("Endpoint Ready?") :][: len(polled)] == polled
    # SageMaker allows nothing but DeleteEndpoint on a Failed endpoint: left there, no later execution could update it
    assert fake.live() == set()


def test_a_second_execution_updates_the_endpoint_blue_green_under_its_own_alarm() -> None:
    fake = FakeSageMaker(creating_polls=1)
    first, events = _run("keras-text-endpoint", fake)
    assert first["status"] == "SUCCEEDED", first.get("cause")
    assert "Create Endpoint" in executions.state_names(events) and not fake.alarms
    second, events = _run("keras-text-endpoint", fake, execution="exec-2")
    assert second["status"] == "SUCCEEDED", second.get("cause")
    entered = list(executions.state_names(events))
    assert "Create Endpoint" not in entered and entered.count("Describe Endpoint") == 2  # Updating, then InService
    endpoint = "byoc-keras-text-endpoint"
    assert fake.alarms == {f"{endpoint}-invocation-5xx": blue_green.five_xx_alarm(endpoint)}
    assert [request for op, request in fake.calls if op == "UpdateEndpoint"] == [
        {
            "EndpointName": endpoint,
            "EndpointConfigName": "byoc-exec-2-config",
            "DeploymentConfig": blue_green.deployment_config(CONFIG, endpoint),
        }
    ]


def test_an_alarm_cloudwatch_refuses_is_retried_then_fails_the_execution_and_keeps_the_endpoint() -> None:
    fake = FakeSageMaker(creating_polls=0)
    assert _run("keras-text-endpoint", fake)[0]["status"] == "SUCCEEDED"
    fake.alarm_error = "The value for parameter Threshold is invalid"
    described, _ = _run("keras-text-endpoint", fake, execution="exec-2")
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    assert described["cause"].startswith("CloudWatch.CloudWatchException")  # the name AWS gives it, so retried
    assert "The value for parameter Threshold is invalid" in described["cause"]
    operations = [op for op, _ in fake.calls]
    assert operations.count("PutMetricAlarm") == CONFIG.max_attempts + 1
    assert "UpdateEndpoint" not in operations and "DeleteEndpoint" not in operations  # the first one's, serving
    assert ("DeleteEndpointConfig", {"EndpointConfigName": "byoc-exec-2-config"}) in fake.calls


def test_lambda_handler_passes_the_request_to_create_model() -> None:
    handler = functions.load_create_model()
    fake = FakeSageMaker()

    class Client:
        def create_model(self, **request: object) -> dict:
            return {**fake.call("CreateModel", request), "ResponseMetadata": {}}

    request = {
        "ModelName": "m",
        "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/k"},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
    }
    assert handler.create_model(Client(), request) == {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}
    with pytest.raises(ValueError, match="lacks ExecutionRoleArn"):
        handler.create_model(Client(), {"ModelName": "m", "PrimaryContainer": {}})


def test_script_mode_input_reaches_the_requests() -> None:
    """The sample input (script mode, two hosts, three channels) as the SageMaker requests carry it."""
    fake = FakeSageMaker()
    described, _ = _run("chainer-mnist-batch", fake)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    requests = dict(fake.calls)
    train = requests["CreateTrainingJob"]
    assert [c["ChannelName"] for c in train["InputDataConfig"]] == ["train", "valid", "test"]
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://byoc-sagemaker-data/mnist/train/"
    assert train["ResourceConfig"]["InstanceCount"] == 2
    code = "s3://byoc-sagemaker-data/code/chainer-mnist/sourcedir.tar.gz"
    assert (train["HyperParameters"]["sagemaker_program"], train["HyperParameters"]["sagemaker_submit_directory"]) == (
        "train.py",
        code,
    )
    environment = requests["CreateModel"]["PrimaryContainer"]["Environment"]
    assert environment == {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code}


def test_builtin_trainer_input_runs_the_same_definition() -> None:
    fake = FakeSageMaker()
    given = inputs.execution_input("chainer-mnist-batch", CONFIG, "img@sha256:" + "0" * 64)
    described, _ = sfn_local.execute(
        defs.build("chainer-mnist-batch", CONFIG), given, sfn_local.Integrations(fake), name="exec-3", timeout_s=60
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    requests = dict(fake.calls)
    assert requests["CreateTrainingJob"]["HyperParameters"] == {"epochs": "1", "units": "50"}
    assert requests["CreateTrainingJob"]["ResourceConfig"]["InstanceCount"] == 1
    assert requests["CreateModel"]["PrimaryContainer"]["Environment"] == {}


def test_an_endpoint_that_never_comes_up_times_out() -> None:
    config = replace(CONFIG, endpoint_max_polls=3)
    described, events = _run("keras-text-endpoint", FakeSageMaker(creating_polls=100), config)
    assert (described["status"], described["error"]) == ("FAILED", "EndpointTimedOut")
    assert list(executions.state_names(events)).count("Describe Endpoint") == 4  # polls 0..3, then it gives up


def test_an_sdk_task_error_without_response_metadata_is_still_caught() -> None:
    """A runner may raise a ClientError as botocore builds it, without ResponseMetadata: still a SageMaker error."""

    class BareErrors(FakeSageMaker):
        def _CreateEndpoint(self, request: dict) -> dict:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "CreateEndpoint")

        def _DeleteEndpoint(self, request: dict) -> dict:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "nothing"}}, "DeleteEndpoint")

    described, events = _run("keras-text-endpoint", BareErrors())
    assert (described["status"], described["error"]) == ("FAILED", "PipelineFailed")
    errors = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert "SageMaker.SageMakerException" in errors and "States.Runtime" not in errors
