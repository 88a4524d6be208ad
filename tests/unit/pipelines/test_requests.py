"""Request builders produce valid AWS requests (checked against botocore's model); the local-mode rewrite."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from byoc_pipelines.local.runner import to_local
from byoc_pipelines.sagemaker import requests as sm
from byoc_pipelines.sagemaker.shapes import request_errors

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def _errors(operation: str, request: dict[str, Any]) -> str:
    report = ParamValidator().validate(request, SAGEMAKER.operation_model(operation).input_shape)
    return report.generate_report() if report.has_errors() else ""


def _training() -> dict[str, Any]:
    return sm.training_job(
        "job-1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc/chainer-mnist:abc",
        {"train": "s3://bucket/mnist/train", "valid": "s3://bucket/mnist/valid"},
        "s3://bucket/output",
        {"epochs": 20, "model": "mlp", "freeze-embeddings": False},
        role_arn=ROLE,
        checkpoint_uri="s3://bucket/checkpoints/job-1",
        metric_definitions=[{"Name": "val_accuracy", "Regex": "val_accuracy=([0-9.]+)"}],
    )


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("CreateTrainingJob", _training()),
        ("CreateModel", sm.model("m", "img:1", "s3://bucket/output/job-1/output/model.tar.gz", role_arn=ROLE)),
        ("CreateEndpointConfig", sm.endpoint_config("c", "m")),
        ("CreateTransformJob", sm.transform_job("t", "m", "s3://bucket/mnist/transform", "s3://bucket/out")),
    ],
)
def test_requests_match_botocore_shapes(operation: str, request_: dict[str, Any]) -> None:
    assert _errors(operation, request_) == ""


def test_hyperparameters_are_strings() -> None:
    assert _training()["HyperParameters"] == {"epochs": "20", "model": "mlp", "freeze-embeddings": "false"}


def test_validation_catches_a_typo() -> None:
    request = _training()
    request["TrainingJobNam"] = request.pop("TrainingJobName")
    assert 'Unknown parameter in input: "TrainingJobNam"' in _errors("CreateTrainingJob", request)
    problems = request_errors("CreateTrainingJob", request)
    assert 'Missing required parameter in input: "TrainingJobName"' in problems
    assert any(p.startswith('Unknown parameter in input: "TrainingJobNam", must be one of') for p in problems)
    assert request_errors("CreateTrainingJobb", request) == ["sagemaker has no operation 'CreateTrainingJobb'"]


def test_local_rewrite_of_model_config_and_transform() -> None:
    model = to_local("CreateModel", sm.model("m", "img", "file:///out/model.tar.gz", role_arn=ROLE))
    assert "ExecutionRoleArn" not in model and model["PrimaryContainer"]["Environment"] == {}
    config = sm.endpoint_config("c", "m")  # served by local endpoints as AWS takes it
    assert to_local("CreateEndpointConfig", config) == config
    transform = to_local("CreateTransformJob", sm.transform_job("t", "m", "file:///in", "file:///out"))
    assert transform["TransformResources"]["InstanceType"] == "local"
    assert transform["BatchStrategy"] == "MultiRecord" and transform["TransformOutput"]["AssembleWith"] == "Line"
