"""keras-text-endpoint run four times in a row on one set of local endpoints, real containers behind every task.
Execution "zero" brings a model that cannot load, so its new endpoint ends Failed and the failure path deletes it
(a Failed endpoint takes no update); "first" trains and creates the endpoint; "second" updates it blue/green (a
canary) to a new model; "third" brings the model that cannot load again, so the new fleet fails /ping,
SageMaker's rollback puts the endpoint back on the second model, and the execution fails with DescribeEndpoint's
FailureReason.

Only "first" trains; the others mock Train Model (Step Functions Local's mock file format) with the artifact they
deploy, so the test spends its time on the endpoint, which is what it is about.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from botocore.exceptions import ClientError

from byoc_pipelines.asl import blue_green
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.aws import endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.local import mocks, pipeline
from byoc_pipelines.local import stepfunctions as sfn_local
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.logs import Progress
from utils.data import KNBC_DIR
from utils.keras_model import LABELS

pytestmark = pytest.mark.container

DEFINITION = "keras-text-endpoint"
# Short polls and a short canary bake; the rest is the rendered definition's.
CONFIG = PipelineConfig(
    endpoint_wait_seconds=2, endpoint_max_polls=150, canary_wait_seconds=2, termination_wait_seconds=0
)


def _trained_by(name: str, artifact: str) -> mocks.MockTestCase:
    """Train Model answered with ``artifact`` as the model of training job ``name``."""
    done = {"TrainingJobName": name, "TrainingJobStatus": "Completed", "ModelArtifacts": {"S3ModelArtifacts": artifact}}
    machine = CONFIG.state_machine_name(DEFINITION)
    config = {
        "StateMachines": {machine: {"TestCases": {"Case": {"Train Model": "Trained"}}}},
        "MockedResponses": {"Trained": {"0": {"Return": done}}},
    }
    return mocks.load(config, [machine], "Case")


def _empty_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    return buffer.getvalue()


class Runs:
    """Executions of the definition on one LocalMode, so the endpoint outlives each of them."""

    def __init__(self, spec: pipeline.LocalRun, runner: LocalModeRunner) -> None:
        self.spec, self.runner = spec, runner
        self.definition = defs.build(DEFINITION, CONFIG)

    def execute(self, name: str, case: mocks.MockTestCase | None = None) -> tuple[dict[str, Any], list[str]]:
        given = pipeline.execution_input(self.spec, CONFIG, name)
        described, events = sfn_local.execute(
            self.definition,
            given,
            sfn_local.Integrations(self.runner),
            name=name,
            region=CONFIG.region,
            timeout_s=1200,
            mocks=case,
        )
        return described, list(executions.state_names(events))

    def describe(self) -> dict[str, Any]:
        return self.runner.call("DescribeEndpoint", {"EndpointName": blue_green.endpoint_name(CONFIG, DEFINITION)})

    def ask(self) -> list[dict[str, Any]]:
        answer = endpoint.invoke(
            self.runner.local_mode.sagemaker_runtime_client, self.describe()["EndpointName"], {"q": "電波が悪い"}
        )
        return list(answer)


def test_a_second_execution_updates_the_endpoint_and_a_model_failing_ping_is_rolled_back(
    keras_text_image: str, tmp_path: Path
) -> None:
    spec = pipeline.LocalRun(
        DEFINITION,
        keras_text_image,
        KNBC_DIR,
        tmp_path,
        train_size=300,
        config=CONFIG,
        hyperparameters={"epochs": "1", "hidden": "8", "input-len": "16"},
    )
    given = pipeline.execution_input(spec, CONFIG, "first")
    s3: S3Folder = pipeline._stage(spec, CONFIG, given, "first", Progress(io.StringIO()))
    with LocalMode(tmp_path / "local-mode", region=CONFIG.region, endpoint_settings={"ping_interval_s": 0.5}) as lm:
        runs = Runs(spec, LocalModeRunner(lm, s3, CONFIG.account_id))
        broken = CONFIG.s3_uri("models/keras-text/broken/model.tar.gz")
        s3.put_bytes(_empty_tarball(), broken)

        zero, entered = runs.execute("zero", _trained_by("byoc-zero-train", broken))
        assert (zero["status"], zero["error"]) == ("FAILED", "PipelineFailed")
        failed = "EndpointFailed: Endpoint byoc-keras-text-endpoint is Failed: The primary container for production"
        assert zero["cause"].startswith(failed) and "did not pass the ping health check" in zero["cause"], zero["cause"]
        assert entered[entered.index("Endpoint Failed") :][2:4] == ["Endpoint Created Here?", "Delete Endpoint"]
        with pytest.raises(ClientError, match="Could not find endpoint"):  # deleted, so the next one creates it
            runs.describe()

        first, entered = runs.execute("first")
        assert first["status"] == "SUCCEEDED", first.get("cause")
        assert "Create Endpoint" in entered and "Update Endpoint" not in entered
        assert runs.describe()["EndpointConfigName"] == "byoc-first-config"
        trained = executions.outcome(first)["training"]["ModelArtifacts"]

        # the same weights under another key: a new model, endpoint config and fleet
        again = CONFIG.s3_uri("models/keras-text/second/model.tar.gz")
        s3.put_bytes(s3.path(trained).read_bytes(), again)
        second, entered = runs.execute("second", _trained_by("byoc-second-train", again))
        assert second["status"] == "SUCCEEDED", second.get("cause")
        assert entered[entered.index("Find Endpoint") :][:4] == [
            "Find Endpoint",
            "Put Rollback Alarm",
            "Update Endpoint",
            "Wait For Endpoint",
        ]
        described = runs.describe()
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "byoc-second-config")
        assert described["LastDeploymentConfig"] == blue_green.deployment_config(CONFIG, "byoc-keras-text-endpoint")
        # the workflow's own alarm reached the local endpoints, over the endpoint's variant: what rolls back a 5xx
        alarm = lm.endpoints.alarms[blue_green.alarm_name("byoc-keras-text-endpoint")]
        assert (alarm.metric, dict(alarm.dimensions)) == (
            "Invocation5XXErrors",
            {"EndpointName": "byoc-keras-text-endpoint", "VariantName": "AllTraffic"},
        )
        assert sorted(item["label"] for item in runs.ask()) == sorted(LABELS)

        third, entered = runs.execute("third", _trained_by("byoc-third-train", broken))
        assert (third["status"], third["error"]) == ("FAILED", "EndpointNotUpdated")
        assert entered[-1] == "Endpoint Not Updated"
        expected = "Endpoint byoc-keras-text-endpoint is InService on byoc-second-config, not on byoc-third-config: "
        assert third["cause"].startswith(expected), third["cause"]
        assert "did not pass the ping health check" in third["cause"]
        described = runs.describe()  # rolled back: still serving the second model
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "byoc-second-config")
        assert sorted(item["label"] for item in runs.ask()) == sorted(LABELS)
