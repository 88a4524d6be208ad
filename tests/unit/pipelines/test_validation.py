"""Each validator passes our definitions and rejects a definition broken in the way it is meant to catch."""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines import validation
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs, lint
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import ToolMissingError

CONFIG = PipelineConfig(endpoint_wait_seconds=0)
PAYLOADS = {CONFIG.create_model_function: "CreateModel"}


def _asl_validator_or_skip() -> None:
    """Skips on a developer machine without node_modules; CI (`make test` installs it) must not skip."""
    try:
        lint.asl_validator_path()
    except ToolMissingError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _dangling_next() -> dict[str, Any]:
    definition = defs.build("chainer-mnist-batch", CONFIG)
    definition["States"]["Create Model"]["Next"] = "Batch Transfrom"
    return definition


@pytest.mark.parametrize("name", list(defs.BUILDERS))
def test_all_validators_pass_our_definitions(name: str) -> None:
    _asl_validator_or_skip()
    results = validation.validate(defs.build(name, CONFIG), inputs.sample_input(name, CONFIG), PAYLOADS)
    assert results == {"graph": [], "statelint": [], "asl-validator": [], "botocore": []}


def test_statelint_rejects_a_dangling_next() -> None:
    problems = lint.statelint(_dangling_next())
    assert any("Batch Transfrom" in p for p in problems), problems


def test_asl_validator_rejects_a_dangling_next() -> None:
    _asl_validator_or_skip()
    problems = lint.asl_validator(_dangling_next())
    assert any("MISSING_TRANSITION_TARGET" in p and "Batch Transfrom" in p for p in problems), problems


def test_asl_validator_rejects_a_malformed_intrinsic() -> None:
    _asl_validator_or_skip()
    definition = defs.build("chainer-mnist-batch", CONFIG)
    names = definition["States"]["Name Resources"]["Parameters"]
    names["model.$"] = names["model.$"].rstrip(")")
    assert lint.asl_validator(definition)


def test_botocore_check_rejects_a_misspelled_parameter() -> None:
    definition = defs.build("chainer-mnist-batch", CONFIG)
    params = definition["States"]["Train Model"]["Parameters"]
    params["TrainingJobNam.$"] = params.pop("TrainingJobName.$")
    problems = validation.request_shapes(definition, inputs.sample_input("chainer-mnist-batch", CONFIG))
    assert any('Train Model: CreateTrainingJob: Unknown parameter in input: "TrainingJobNam"' in p for p in problems)


def test_botocore_check_rejects_a_wrong_type_from_the_input() -> None:
    sample = inputs.sample_input("chainer-mnist-batch", CONFIG)
    sample["hyperparameters"] = {"epochs": 1}  # HyperParameters is a string map
    problems = validation.request_shapes(defs.build("chainer-mnist-batch", CONFIG), sample)
    assert any("Invalid type for parameter HyperParameters.epochs" in p for p in problems), problems


def test_botocore_check_rejects_a_misspelled_resource() -> None:
    definition = defs.build("chainer-mnist-batch", CONFIG)
    definition["States"]["Train Model"]["Resource"] += "b"  # createTrainingJob.syncb -> still "CreateTrainingJob"
    definition["States"]["Create Model"]["Resource"] = "arn:aws:states:::sagemaker:createModell"
    assert validation.resources_known(definition) == [
        "Create Model: arn:aws:states:::sagemaker:createModell is not a SageMaker operation"
    ]


def test_botocore_check_covers_the_lambda_payload() -> None:
    definition = defs.build("chainer-mnist-batch-lambda", CONFIG)
    payload = definition["States"]["Create Model"]["Parameters"]["Payload"]
    payload["PrimaryContainer"]["ModelDataUri.$"] = payload["PrimaryContainer"].pop("ModelDataUrl.$")
    problems = validation.request_shapes(
        definition, inputs.sample_input("chainer-mnist-batch-lambda", CONFIG), PAYLOADS
    )
    assert any("Create Model: CreateModel" in p and "ModelDataUri" in p for p in problems), problems


def test_resolved_parameters_are_what_the_task_receives() -> None:
    config = replace(CONFIG, prefix="chk")
    tasks = validation.scheduled_tasks(
        defs.build("keras-text-endpoint", config), inputs.sample_input("keras-text-endpoint", config)
    )
    by_state = {t.state: t for t in tasks}
    train = by_state["Train Model"].parameters
    assert train["TrainingJobName"] == "chk-validate-sample-train"
    assert train["RoleArn"] == config.training_role_arn
    assert by_state["Create Model"].parameters["ExecutionRoleArn"] == config.serving_role_arn
    assert by_state["Create Model"].parameters["PrimaryContainer"]["ModelDataUrl"] == (
        "s3://byoc-sagemaker-data/models/keras-text/chk-validate-sample-train/output/model.tar.gz"
    )
    assert by_state["Describe Endpoint"].resource_type == "aws-sdk:sagemaker"
    assert copy.deepcopy(by_state["Describe Endpoint"].parameters) == {"EndpointName": "chk-keras-text-endpoint"}
