"""The workflows' failure handling, executed with real containers: faults the containers really go through.

A failing training script takes the Catch into the failure path; a spot interruption under managed spot training
resumes from the checkpoints (with a mocked state from Step Functions Local's file and two throttles, through the
CLI as a user runs it); an aborted execution and a Task timeout stop the training container with SIGTERM.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.local import pipeline
from byoc_pipelines.local.faults import FaultPlan
from byoc_pipelines.local.scenario import Scenario
from byoc_pipelines.logs import Progress
from utils.data import KNBC_DIR, REPO

pytestmark = pytest.mark.container

FAST = PipelineConfig(retry_interval_seconds=1)  # and the runs scale every wait by 0.01
# Enough epochs (of 500 images, 20 units: milliseconds each) that a SIGTERM sent once epoch 1 is logged lands before
# the last; where it lands varies with the machine's load.
EPOCHS = 30


def _run(image: str, mnist_dir: Path, root: Path, faults: list[str], **changes: object) -> pipeline.LocalOutcome:
    spec = pipeline.LocalRun(
        "chainer-mnist-batch",
        image,
        mnist_dir,
        root,
        train_size=500,
        hyperparameters={"epochs": "100", "units": "20"},
        execution_name=root.name,
        config=FAST,
        scenario=Scenario(faults=FaultPlan.from_flags(faults), retry_wait_scale=0.01),
    )
    return pipeline.run(replace(spec, **changes), Progress(io.StringIO()))  # type: ignore[arg-type]


def test_a_failing_training_script_takes_the_failure_path(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    console = io.StringIO()
    spec = pipeline.LocalRun(
        "chainer-mnist-batch",
        chainer_mnist_image,
        mnist_dir,
        tmp_path / "fails",
        train_size=500,
        hyperparameters={"epochs": "1", "units": "20"},
        execution_name="fails",
        config=FAST,
        scenario=Scenario(faults=FaultPlan.from_flags(["Train Model=FailTraining"]), retry_wait_scale=0.01),
    )
    outcome = pipeline.run(spec, Progress(console))
    assert (outcome.status, outcome.error) == ("FAILED", "PipelineFailed")
    assert outcome.cause.startswith("States.TaskFailed: ")  # the original error, and the job's description
    reason = json.loads(outcome.cause.removeprefix("States.TaskFailed: "))["FailureReason"]
    assert reason.startswith("unknown hyperparameter(s) 'fault-injected-failure'")  # the container's failure file
    lines = console.getvalue()
    entered = re.findall(r"StateEntered name=(.+)", lines)
    assert entered[-4:] == ["Stop Training Job", "Stop Transform Job", "Delete Model", "Pipeline Failed"]
    assert "-> caught States.TaskFailed in Train Model: next Stop Training Job" in lines
    assert f"FailureReason: {reason}" in lines
    assert outcome.jobs == {"byoc-fails-train": f"Failed; {reason}"}


def test_spot_resume_mocked_transform_and_throttles_through_the_cli(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    """Step Functions Local's file mocks the transform; the rest runs: a spot resume, two throttles, then success."""
    transform = {
        "TransformJobName": "byoc-spot-transform",
        "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/byoc-spot-transform",
        "TransformJobStatus": "Completed",
        "ModelName": "byoc-spot-model",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}},
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": "2026-01-01T00:00:00Z",
    }
    mock_file = tmp_path / "MockConfigFile.json"
    mock_file.write_text(
        json.dumps(
            {
                "StateMachines": {"byoc-chainer-mnist-batch": {"TestCases": {"Spot": {"Batch Transform": "Done"}}}},
                "MockedResponses": {"Done": {"0": {"Return": transform}}},
            }
        )
    )
    command = [sys.executable, "-m", "byoc_pipelines.cli", "local", "chainer-mnist-batch", "--image"]
    command += [chainer_mnist_image, "--data", str(mnist_dir), "--root", str(tmp_path / "run"), "--name", "spot"]
    command += ["--train-size", "500", "--hyperparameter", f"epochs={EPOCHS}", "--hyperparameter", "units=20"]
    command += ["--spot"]
    command += ["--mock-config", str(mock_file), "--test-case", "Spot", "--retry-wait-scale", "0.01"]
    command += ["--fault", "Train Model=SpotInterruption", "--fault", "Create Model=Throttle:2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    console = done.stdout
    assert done.returncode == 0, console + done.stderr
    assert (
        "-> byoc-spot-train: Starting > Training > Interrupted > Restarting > Training > Uploading > Completed"
        in console
    )
    assert "-> retry 2 of 3 of Create Model in 10 s (SageMaker.AmazonSageMakerException)" in console
    assert re.search(r"TaskSucceeded resource=createTransformJob\.sync output=.* \(mocked\)", console), console
    assert re.search(
        r"training job byoc-spot-train: Completed; attempt 1: algo-1 exited 143 [0-9.]+ s after SIGTERM", console
    )
    log = (tmp_path / "run" / "logs" / "chainer-mnist-batch.log").read_text()
    stopped = re.search(r"training stopped: stopped at epoch (\d+) step (\d+)/", log)  # where SIGTERM found it
    assert stopped, log[-3000:]
    epoch, step = stopped.groups()
    assert re.search(rf"/opt/ml/checkpoints restored: \d+ files, resuming at epoch {epoch}, step {step}\b", console)
    assert f"resumed from checkpoint: epoch {epoch}, step {step}/" in log  # the image's own word on where it went on
    metrics = re.findall(r"metrics: epoch=(\d+) ", log)
    assert metrics == [str(n) for n in range(1, EPOCHS + 1)]  # each epoch once: none lost, none redone
    assert "ExecutionSucceeded" in console


def test_an_aborted_execution_stops_the_training_job_with_sigterm(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    outcome = _run(chainer_mnist_image, mnist_dir, tmp_path / "aborted", ["Train Model=AbortExecution"])
    assert outcome.status == "ABORTED"
    summary = outcome.jobs["byoc-aborted-train"]
    found = re.fullmatch(r"Stopped; attempt 1: algo-1 exited 143 ([0-9.]+) s after SIGTERM", summary)
    assert found and float(found.group(1)) < 120, summary  # the image saved and exited within SageMaker's grace


def test_a_task_timeout_is_caught_and_the_failure_path_stops_the_job(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    config = replace(FAST, training_timeout_seconds=10)
    endless = {"epochs": "1000000", "units": "20"}  # far longer than the Task's 10 s, however fast the machine
    outcome = _run(chainer_mnist_image, mnist_dir, tmp_path / "slow", [], config=config, hyperparameters=endless)
    assert (outcome.status, outcome.error) == ("FAILED", "PipelineFailed")
    assert outcome.cause.startswith("States.Timeout")
    assert re.fullmatch(
        r"Stopped; attempt 1: algo-1 exited 143 [0-9.]+ s after SIGTERM", outcome.jobs["byoc-slow-train"]
    )


def test_the_keras_failure_path_deletes_the_endpoint_config_and_the_model(
    keras_text_image: str, tmp_path: Path
) -> None:
    """CreateEndpoint throttled past its retries: the endpoint config and the model are deleted for real."""
    spec = pipeline.LocalRun(
        "keras-text-endpoint",
        keras_text_image,
        KNBC_DIR,
        tmp_path / "endpoint",
        train_size=300,
        hyperparameters={"epochs": "1"},
        execution_name="endpoint",
        config=FAST,
        scenario=Scenario(faults=FaultPlan.from_flags(["Create Endpoint=Throttle:4"]), retry_wait_scale=0.01),
    )
    console = io.StringIO()
    outcome = pipeline.run(spec, Progress(console))
    assert (outcome.status, outcome.error) == ("FAILED", "PipelineFailed")
    assert outcome.cause.startswith("SageMaker.AmazonSageMakerException: Rate exceeded")
    lines = console.getvalue()
    assert "-> retry 3 of 3 of Create Endpoint in 4 s (SageMaker.AmazonSageMakerException)" in lines
    deleted = re.findall(r"TaskSucceeded resource=(delete\w+) output=\{\}", lines)
    assert deleted == ["deleteEndpointConfig", "deleteModel"], lines[-3000:]  # there was no endpoint to delete


def test_a_model_answering_500_is_invoke_endpoints_model_error(keras_text_image: str, tmp_path: Path) -> None:
    """The workflow succeeds (the container passes /ping); the endpoint's client gets ModelError 424 with the 500."""
    spec = pipeline.LocalRun(
        "keras-text-endpoint",
        keras_text_image,
        KNBC_DIR,
        tmp_path / "fivexx",
        train_size=300,
        hyperparameters={"epochs": "1"},
        execution_name="fivexx",
        config=FAST,
        scenario=Scenario(faults=FaultPlan.from_flags(["Create Model=FailingModel"])),
    )
    console = io.StringIO()
    outcome = pipeline.run(spec, Progress(console))
    assert (outcome.status, outcome.answer) == ("SUCCEEDED", None)
    assert outcome.answer_error.startswith("ModelError (424, OriginalStatusCode 500): Received server error (500)")
    assert '"detail":"see the server log"' in outcome.answer_error  # the container's own 500 body (no cause in it)
    assert 'See "docker logs byoc-keras-text-endpoint-' in outcome.answer_error  # where the traceback is
    assert "endpoint byoc-keras-text-endpoint deleted" in console.getvalue()
