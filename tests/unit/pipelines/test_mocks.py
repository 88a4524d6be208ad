"""Step Functions Local's mock file on our definitions (moto's engine, a validating in-memory SageMaker), and faults.

The same mock files drive the CLI's `local --mock-config` with real containers (tests/pipelines/test_faults.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.history import HistoryView
from byoc_pipelines.local import mocks
from byoc_pipelines.local import stepfunctions as sfn_local
from byoc_pipelines.local.faults import FaultKind, FaultPlan
from byoc_pipelines.local.scenario import scenario
from byoc_pipelines.sagemaker.shapes import FieldValidationMode
from utils.fake_sagemaker import FakeSageMaker

CONFIG = PipelineConfig(retry_interval_seconds=1)
DEFINITION = defs.build("chainer-mnist-batch", CONFIG)
MACHINE = CONFIG.state_machine_name("chainer-mnist-batch")
MODEL = {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/byoc-exec-1-model"}


def _config(case: dict[str, str], responses: dict[str, Any]) -> dict[str, Any]:
    return {"StateMachines": {MACHINE: {"TestCases": {"Case": case}}}, "MockedResponses": responses}


def _run(config: dict[str, Any], fake: FakeSageMaker, faults: FaultPlan | None = None) -> tuple[dict, list[dict]]:
    case = mocks.load(config, [MACHINE], "Case")
    assert mocks.check_returns(case, DEFINITION) == []
    return sfn_local.execute(
        DEFINITION,
        inputs.sample_input("chainer-mnist-batch", CONFIG),
        sfn_local.Integrations(fake, faults=faults or FaultPlan()),
        name="exec-1",
        timeout_s=60,
        mocks=case,
        retry_wait_scale=0.01,
    )


def test_the_shape_of_aws_example_retries_three_times_then_returns() -> None:
    """AWS's example: "0" Throw, "1-2" Throw, "3" Return against a Retry of 3 attempts: the fourth call succeeds."""
    throttled = {"Error": "SageMaker.AmazonSageMakerException", "Cause": "Rate exceeded"}
    config = _config(
        {"Create Model": "ModelAfterRetries"},
        {"ModelAfterRetries": {"0": {"Throw": throttled}, "1-2": {"Throw": throttled}, "3": {"Return": MODEL}}},
    )
    fake = FakeSageMaker()
    described, events = _run(config, fake)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"])["model"] == MODEL
    assert [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"] == [
        throttled["Error"]
    ] * 3
    assert "CreateModel" not in [op for op, _ in fake.calls]  # the mocked state never reached SageMaker
    view = HistoryView(DEFINITION, {"Create Model"})
    lines = [line for event in events for line in view.lines(event)]
    retries = [line for line in lines if "-> retry" in line]
    assert retries == [
        f"    -> retry {n} of 3 of Create Model in {wait} s (SageMaker.AmazonSageMakerException)"
        for n, wait in ((1, 1), (2, 2), (3, 4))
    ]
    model_events = [line for line in lines if "resource=createModel" in line]
    assert model_events and all(line.endswith(" (mocked)") for line in model_events)
    assert not [line for line in lines if "resource=createTrainingJob" in line and "(mocked)" in line]


def test_a_mocked_state_with_fewer_responses_than_attempts_fails_the_execution() -> None:
    throttled = {"Throw": {"Error": "SageMaker.AmazonSageMakerException", "Cause": "Rate exceeded"}}
    config = _config({"Create Model": "TooFew"}, {"TooFew": {"0-1": throttled}})
    described, events = _run(config, FakeSageMaker())
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert "No mocked response definition for state 'Create Model' and retry number '2'" in described["cause"]
    assert "Stop Training Job" not in list(executions.state_names(events))  # States.Runtime is never caught


def test_a_mocked_states_error_is_caught_into_the_failure_path() -> None:
    failed = {"Throw": {"Error": "States.TaskFailed", "Cause": "the job failed"}}
    config = _config({"Train Model": "JobFailed"}, {"JobFailed": {"0": failed}})
    described, events = _run(config, FakeSageMaker())
    assert (described["status"], described["cause"]) == ("FAILED", "States.TaskFailed: the job failed")
    assert list(executions.state_names(events))[-4:] == [
        "Stop Training Job",
        "Stop Transform Job",
        "Delete Model",
        "Pipeline Failed",
    ]


def test_a_return_missing_a_required_field_fails_strict_naming_the_field(tmp_path: Path) -> None:
    incomplete = {"TrainingJobName": "j", "TrainingJobStatus": "Completed"}
    config = _config({"Train Model": "Incomplete"}, {"Incomplete": {"0": {"Return": incomplete}}})
    case = mocks.load(config, [MACHINE], "Case")
    problems = mocks.check_returns(case, DEFINITION)
    where = "Train Model: MockedResponses.Incomplete"
    assert f'{where}: Missing required field in the DescribeTrainingJob result: "TrainingJobArn"' in problems
    assert mocks.check_returns(case, DEFINITION, FieldValidationMode.PRESENT) == []
    typo = _config({"Create Model": "Typo"}, {"Typo": {"0": {"Return": {"ModelArm": "x"}}}})
    problems = mocks.check_returns(mocks.load(typo, [MACHINE], "Case"), DEFINITION, FieldValidationMode.PRESENT)
    assert problems == ['Create Model: MockedResponses.Typo: Unknown field in the CreateModel result: "ModelArm"']
    path = tmp_path / "mocks.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigurationError, match='"TrainingJobArn"'):
        scenario(DEFINITION, [MACHINE], mock_config=path, test_case="Case")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"StateMachines": {}}, "no state machine byoc-chainer-mnist-batch"),
        (_config({}, {}) | {"StateMachines": {MACHINE: {"TestCases": {}}}}, "no test case 'Case'"),
        (_config({"Create Model": "Missing"}, {}), "no MockedResponses.Missing"),
        (_config({"Create Model": "R"}, {"R": {"0": {"Return": MODEL, "Throw": {"Error": "E"}}}}), "exactly one of"),
        (_config({"Create Model": "R"}, {"R": {"0": {"Throw": {"Cause": "c"}}}}), "Throw needs an Error"),
        (_config({"Create Model": "R"}, {"R": {"0": {"Return": MODEL}, "2": {"Return": MODEL}}}), "consecutively"),
        (_config({"Create Model": "R"}, {"R": {"x": {"Return": MODEL}}}), "not a valid integer"),
    ],
)
def test_a_bad_mock_file_is_refused_with_what_is_wrong(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        mocks.load(config, [MACHINE], "Case")


def test_the_file_comes_from_sfn_mock_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(_config({"Create Model": "M"}, {"M": {"0": {"Return": MODEL}}})))
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(path))
    assert scenario(DEFINITION, ["other", MACHINE], test_case="Case").mocked == {"Create Model"}
    with pytest.raises(ConfigurationError, match="needs --test-case"):
        scenario(DEFINITION, [MACHINE])


def test_two_throttles_then_success_on_the_third_attempt() -> None:
    fake = FakeSageMaker()
    described, events = _run(_config({}, {}), fake, FaultPlan.from_flags(["Create Model=Throttle:2"]))
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert [op for op, _ in fake.calls].count("CreateModel") == 1  # the throttled calls never reached SageMaker
    failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["SageMaker.AmazonSageMakerException"] * 2
    assert "Error Code: ThrottlingException" in failed[0]["cause"]


def test_fault_files_and_flags() -> None:
    config = {
        "StateMachines": {MACHINE: {"TestCases": {"Case": {"Train Model": "Reclaimed", "Create Model": "Limited"}}}},
        "Faults": {
            "Reclaimed": {"0": {"SpotInterruption": {"AfterLog": "epoch=2"}}},
            "Limited": {"0-1": {"Throttle": {"Code": "ResourceLimitExceeded"}}},
        },
    }
    plan = FaultPlan.from_config(config, [MACHINE], "Case")
    spot = plan.at("Train Model", 0)
    assert spot is not None and (spot.kind, spot.after_log) == (FaultKind.SPOT_INTERRUPTION, "epoch=2")
    assert plan.at("Train Model", 1) is None and plan.at("Create Model", 1).code == "ResourceLimitExceeded"  # type: ignore[union-attr]
    resources = {name: state.get("Resource", "") for name, state in DEFINITION["States"].items()}
    assert plan.problems(resources) == []
    wrong = FaultPlan.from_flags(["Create Model=StopTrainingJob", "Nope=Throttle", "Train Model=FailingModel"])
    assert wrong.problems(resources) == [
        "Create Model: StopTrainingJob needs a createTrainingJob task",
        "Nope: not a Task state of the definition",
        "Train Model: FailingModel needs a sagemaker:createModel task",
    ]
    for flag in ("Train Model", "Train Model=Explode", "Train Model=Throttle:x"):
        with pytest.raises(ConfigurationError):
            FaultPlan.from_flags([flag])
