"""TestState offline on our three definitions, written the way a user writes them (byoc_pipelines.testing), and
its verdicts checked against moto's execution of the same state with the same mocked responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import executions
from byoc_pipelines.cli import main
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.history import backoff_seconds
from byoc_pipelines.local import mocks
from byoc_pipelines.local import stepfunctions as sfn_local
from byoc_pipelines.sagemaker.shapes import result_errors
from byoc_pipelines.testing import StateTester
from byoc_pipelines.teststate import TestStateError, test_state
from utils.fake_sagemaker import FakeSageMaker

CONFIG = PipelineConfig()
THROTTLED = "SageMaker.AmazonSageMakerException"
NAMES = {"training_job": "j", "model": "m", "transform_job": "t", "endpoint_config": "c", "endpoint": "e"}


def _input(definition: str) -> dict[str, Any]:
    given = inputs.sample_input(definition, CONFIG)
    return {**given, "names": NAMES, "input_data_config": [], "training": {"ModelArtifacts": "s3://b/model.tar.gz"}}


def _job(status: str = "Completed") -> dict[str, Any]:
    return {
        "TrainingJobName": "j",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/j/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": "2026-01-01T00:00:00Z",
    }


@pytest.mark.parametrize("definition", list(defs.BUILDERS))
def test_training_retries_throttling_with_backoff_then_takes_the_failure_path(definition: str) -> None:
    tester = StateTester(defs.build(definition, CONFIG))
    given = _input(definition)
    for count, wait in ((0, 5), (1, 10), (2, 20)):
        answer = tester.run("Train Model", given, error=THROTTLED, cause="Rate exceeded", retry_count=count)
        assert (answer.status, answer.retry_index, answer.backoff_s, answer.next_state) == ("RETRIABLE", 0, wait, None)
    exhausted = tester.run("Train Model", given, error=THROTTLED, retry_count=3)
    assert (exhausted.status, exhausted.catch_index, exhausted.next_state) == ("CAUGHT_ERROR", 0, "Stop Training Job")
    assert exhausted.output["error"] == {"Error": THROTTLED, "Cause": ""}
    limited = tester.run("Train Model", given, error="SageMaker.ResourceLimitExceededException", retry_count=1)
    assert (limited.status, limited.retry_index, limited.backoff_s) == ("RETRIABLE", 1, 120)
    failed_job = tester.run("Train Model", given, error="States.TaskFailed", cause=json.dumps(_job("Failed")))
    assert (failed_job.status, failed_job.next_state) == ("CAUGHT_ERROR", "Stop Training Job")
    timed_out = tester.run("Train Model", given, error="States.Timeout")
    assert (timed_out.status, timed_out.next_state) == ("CAUGHT_ERROR", "Stop Training Job")
    runtime = tester.run("Train Model", given, error="States.Runtime")
    assert (runtime.status, runtime.error) == ("FAILED", "States.Runtime")  # States.ALL does not catch it


@pytest.mark.parametrize("definition", list(defs.BUILDERS))
def test_a_completed_job_flows_its_model_to_the_next_state(definition: str) -> None:
    answer = StateTester(defs.build(definition, CONFIG)).run("Train Model", _input(definition), result=_job())
    assert (answer.status, answer.next_state) == ("SUCCEEDED", "Create Model")
    assert answer.output["training"] == {
        "TrainingJobName": "j",
        "ModelArtifacts": "s3://b/models/j/output/model.tar.gz",
    }
    parameters = answer.inspection["afterParameters"]
    assert parameters["RoleArn"] == CONFIG.training_role_arn  # a binding moto leaves to our task classes, resolved
    assert parameters["CheckpointConfig"][
        "S3Uri"
    ] == "s3://byoc-sagemaker-data/models/chainer-mnist/j/checkpoints/" or (
        parameters["CheckpointConfig"]["S3Uri"] == "s3://byoc-sagemaker-data/models/keras-text/j/checkpoints/"
    )
    assert answer.inspection["afterResultSelector"] == answer.output["training"]
    assert list(answer.inspection) == [
        "input",
        "afterInputPath",
        "afterParameters",
        "result",
        "afterResultSelector",
        "afterResultPath",
    ]


def test_the_keras_endpoint_poll_and_the_failure_path_states() -> None:
    tester = StateTester(defs.build("keras-text-endpoint", CONFIG))
    polled = {
        **_input("keras-text-endpoint"),
        "names": {"training_job": "byoc-t-train", "endpoint": "byoc-keras-text-endpoint", "endpoint_config": "new"},
        "endpoint": {"Polls": 3},
        "endpoint_status": {"EndpointStatus": "Creating", "EndpointConfigName": "new"},
    }
    assert tester.run("Endpoint Ready?", polled).next_state == "Count Endpoint Poll"
    in_service = {**polled, "endpoint_status": {"EndpointStatus": "InService", "EndpointConfigName": "new"}}
    assert tester.run("Endpoint Ready?", in_service).next_state == "Endpoint In Service"
    nothing_to_stop = tester.run("Stop Training Job", polled, error="SageMaker.SageMakerException", retry_count=1)
    assert (nothing_to_stop.status, nothing_to_stop.next_state) == ("CAUGHT_ERROR", "Endpoint Created Here?")
    assert nothing_to_stop.output["clean_up"]["stopTrainingJob"]["Error"] == "SageMaker.SageMakerException"
    failed = tester.run("Pipeline Failed", {"error": {"Error": "States.TaskFailed", "Cause": "the job failed"}})
    assert (failed.status, failed.error, failed.cause) == (
        "FAILED",
        "PipelineFailed",
        "States.TaskFailed: the job failed",
    )


def test_the_lambda_variant_creates_its_model_through_the_function() -> None:
    tester = StateTester(defs.build("chainer-mnist-batch-lambda", CONFIG))
    given = _input("chainer-mnist-batch-lambda")
    answer = tester.run("Create Model", given, result={"StatusCode": 200, "Payload": {"ModelArn": "arn:m"}})
    assert (answer.status, answer.next_state, answer.output["model"]) == (
        "SUCCEEDED",
        "Batch Transform",
        {"ModelArn": "arn:m"},
    )
    busy = tester.run("Create Model", given, error="Lambda.TooManyRequestsException")
    assert (busy.status, busy.retry_index) == ("RETRIABLE", 0)


def test_mocked_results_are_checked_against_the_api_output_shape() -> None:
    tester = StateTester(defs.build("chainer-mnist-batch", CONFIG))
    incomplete = {key: value for key, value in _job().items() if key != "TrainingJobArn"}
    with pytest.raises(
        TestStateError, match='Missing required field in the DescribeTrainingJob result: "TrainingJobArn"'
    ):
        tester.run("Train Model", _input("chainer-mnist-batch"), result=incomplete)
    assert (
        tester.run("Train Model", _input("chainer-mnist-batch"), result=incomplete, validation="PRESENT").status
        == "SUCCEEDED"
    )
    with pytest.raises(TestStateError, match="needs a mock"):
        test_state(tester.request("Train Model", {}))
    with pytest.raises(TestStateError, match="not a state of the definition"):
        tester.run("Tarin Model", {}, result={})


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_answers_conform_to_the_test_state_api(level: str) -> None:
    tester = StateTester(defs.build("chainer-mnist-batch", CONFIG))
    given = _input("chainer-mnist-batch")
    for mock in (
        {"result": _job()},
        {"error": THROTTLED},
        {"error": THROTTLED, "retry_count": 3},
        {"error": "States.Runtime"},
    ):
        raw = test_state(tester.request("Train Model", given, inspection_level=level, **mock))
        assert result_errors("stepfunctions", "TestState", raw) == [], raw
        assert ("afterParameters" in raw.get("inspectionData", {})) == (level == "DEBUG")


def test_verdicts_match_moto_running_the_same_mocked_responses() -> None:
    """Create Model throttled k times: TestState says RETRIABLE while moto retries, then where moto goes next."""
    definition = defs.build("chainer-mnist-batch", PipelineConfig(retry_interval_seconds=1))
    machine = CONFIG.state_machine_name("chainer-mnist-batch")
    state = definition["States"]["Create Model"]
    tester = StateTester(definition)
    model = {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}
    for throttles in (2, 4):
        responses = {str(i): {"Throw": {"Error": THROTTLED, "Cause": "Rate exceeded"}} for i in range(throttles)}
        responses[str(throttles)] = {"Return": model}
        config = {
            "StateMachines": {machine: {"TestCases": {"T": {"Create Model": "R"}}}},
            "MockedResponses": {"R": responses},
        }
        described, events = sfn_local.execute(
            definition,
            inputs.sample_input("chainer-mnist-batch", CONFIG),
            sfn_local.Integrations(FakeSageMaker()),
            name=f"exec-{throttles}",
            timeout_s=60,
            mocks=mocks.load(config, [machine], "T"),
            retry_wait_scale=0.01,
        )
        attempts = sum(
            1
            for e in events
            if e["type"] == "TaskScheduled" and "createModel" in e["taskScheduledEventDetails"]["resource"]
        )
        entered = list(executions.state_names(events))
        after_moto = entered[entered.index("Create Model") + 1]
        given = _input("chainer-mnist-batch")
        verdicts = [tester.run("Create Model", given, error=THROTTLED, retry_count=n) for n in range(attempts)]
        assert [v.status for v in verdicts[:-1]] == ["RETRIABLE"] * (attempts - 1)
        assert [v.backoff_s for v in verdicts[:-1]] == [
            backoff_seconds(state["Retry"][0], n) for n in range(attempts - 1)
        ]
        if throttles < 4:  # moto got a Return on the last attempt: TestState would have retried that error too
            assert (verdicts[-1].status, after_moto, described["status"]) == (
                "RETRIABLE",
                "Batch Transform",
                "SUCCEEDED",
            )
        else:  # retries exhausted: both go to the failure path
            assert (verdicts[-1].status, verdicts[-1].next_state, after_moto) == (
                "CAUGHT_ERROR",
                "Stop Training Job",
                "Stop Training Job",
            )


def test_the_cli_answers_with_the_api_json(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    path = tmp_path / "definition.json"
    path.write_text(json.dumps(defs.build("chainer-mnist-batch", CONFIG)))
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "test-state",
        "--definition",
        str(path),
        "--state",
        "Train Model",
        "--input",
        json.dumps(_input("chainer-mnist-batch")),
    ]
    mock = json.dumps({"errorOutput": {"error": THROTTLED, "cause": "Rate exceeded"}})
    assert main([*argv, "--mock", mock, "--retrier-retry-count", "1"], stdout=out, stderr=err) == 0
    answer = json.loads(out.getvalue())
    assert answer == {
        "status": "RETRIABLE",
        "error": THROTTLED,
        "cause": "Rate exceeded",
        "inspectionData": {"errorDetails": {"retryIndex": 0, "retryBackoffIntervalSeconds": 10}},
    }
    bad = json.dumps({"result": {"TrainingJobName": "j"}})
    assert main([*argv, "--mock", bad], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith(
        "error: mock.result does not match sagemaker DescribeTrainingJob: Missing required field"
    )


@pytest.mark.parametrize(
    ("status", "config", "reason", "error"),
    [
        ("InService", "old", "The green fleet did not pass the ping health check", "EndpointNotUpdated"),  # rolled back
        ("UpdateRollbackFailed", "old", "The rollback failed", "EndpointNotUpdated"),
        ("InService", "old", None, "EndpointNotUpdated"),  # back on the old configuration, no reason given
        ("Failed", "new", "The primary container did not pass the ping health check", "EndpointFailed"),  # created
        ("Failed", "new", None, "EndpointFailed"),
        ("Updating", "old", None, None),
        ("Creating", "new", None, None),
    ],
)
def test_an_endpoint_not_in_service_on_the_new_config_fails_with_the_reason(
    status: str, config: str, reason: str | None, error: str | None
) -> None:
    tester = StateTester(defs.build("keras-text-endpoint", CONFIG))
    described = {"EndpointStatus": status, "EndpointConfigName": config}
    if reason:
        described["FailureReason"] = reason
    polled = {
        "names": {"endpoint": "byoc-keras-text-endpoint", "endpoint_config": "new"},
        "endpoint": {"Polls": 1},
        "endpoint_status": described,
    }
    step = tester.run("Endpoint Ready?", polled)
    if error is None:
        assert step.next_state == "Count Endpoint Poll"
        return
    if reason is None:
        assert step.next_state == "No Failure Reason"
        step = tester.run(step.next_state, polled)
        reason = "DescribeEndpoint gives no FailureReason"
        assert step.output["endpoint_status"]["FailureReason"] == reason
        step = tester.run(step.next_state, step.output)
    failed = tester.run(step.next_state, step.output)
    if error == "EndpointFailed":  # the failure path deletes an endpoint this execution created
        assert failed.next_state == "Stop Training Job"
        failed_as = (failed.output["error"]["Error"], failed.output["error"]["Cause"])
    else:
        assert failed.status == "FAILED"
        failed_as = (failed.error, failed.cause)
    where = f"{status} on {config}, not on new" if error == "EndpointNotUpdated" else "Failed"
    assert failed_as == (error, f"Endpoint byoc-keras-text-endpoint is {where}: {reason}")


@pytest.mark.parametrize(
    ("endpoint", "next_state"),
    [
        ({"Created": True}, "Delete Endpoint"),
        ({"Created": False}, "Delete Endpoint Config"),
        (None, "Delete Endpoint Config"),
    ],
)
def test_the_failure_path_deletes_only_an_endpoint_the_execution_created(
    endpoint: dict[str, bool] | None, next_state: str
) -> None:
    tester = StateTester(defs.build("keras-text-endpoint", CONFIG))
    given = {"names": {"endpoint": "byoc-keras-text-endpoint"}} | ({"endpoint": endpoint} if endpoint else {})
    assert tester.run("Endpoint Created Here?", given).next_state == next_state
