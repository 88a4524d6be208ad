"""SageMaker API requests as plain dicts: the shapes CreateTrainingJob & co. take on AWS and in Step Functions
task parameters (SDK local mode gets them rewritten by :func:`byoc_pipelines.local.runner.to_local`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def training_job(
    name: str,
    image: str,
    channels: Mapping[str, str],
    output_uri: str,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    role_arn: str | None = None,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    volume_gb: int = 10,
    max_runtime_s: int = 3600,
    checkpoint_uri: str | None = None,
    metric_definitions: list[dict[str, str]] | None = None,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A CreateTrainingJob request; ``channels`` maps channel names to S3 prefixes (or ``file://`` folders)."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": {k: v if isinstance(v, str) else _to_string(v) for k, v in (hyperparameters or {}).items()},
        "InputDataConfig": [channel(name, uri) for name, uri in channels.items()],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": instance_count, "VolumeSizeInGB": volume_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_s},
    }
    if role_arn:
        request["RoleArn"] = role_arn
    if checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": checkpoint_uri, "LocalPath": "/opt/ml/checkpoints"}
    if metric_definitions:
        request["AlgorithmSpecification"]["MetricDefinitions"] = metric_definitions
    if environment:
        request["Environment"] = dict(environment)
    return request


def channel(name: str, uri: str) -> dict[str, Any]:
    """One InputDataConfig entry: every host gets every file under the S3 prefix (``FullyReplicated``)."""
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }


def model(
    name: str,
    image: str,
    model_data_url: str,
    *,
    role_arn: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A CreateModel request for a BYO image serving ``model.tar.gz``."""
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": model_data_url}
    if environment:
        container["Environment"] = dict(environment)
    request: dict[str, Any] = {"ModelName": name, "PrimaryContainer": container}
    if role_arn:
        request["ExecutionRoleArn"] = role_arn
    return request


def endpoint_config(
    name: str, model_name: str, *, instance_type: str = "ml.m5.large", instance_count: int = 1
) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": instance_count,
                "InstanceType": instance_type,
            }
        ],
    }


def transform_job(
    name: str,
    model_name: str,
    input_uri: str,
    output_uri: str,
    *,
    content_type: str = "text/csv",
    accept: str = "text/csv",
    split_type: str = "Line",
    instance_type: str = "ml.m5.large",
    max_payload_mb: int = 6,
) -> dict[str, Any]:
    """A CreateTransformJob request: MultiRecord batches of lines, one output line per input line."""
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": max_payload_mb,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": content_type,
            "SplitType": split_type,
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": accept, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
    }


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
