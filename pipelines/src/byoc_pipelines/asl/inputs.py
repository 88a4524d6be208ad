"""Execution inputs of the definitions: the one shape every run sends, on AWS, locally and in validation.

::

    {"image": "<registry>/byoc/chainer-mnist@sha256:<digest>",
     "role_arn": "<the training role>", "model_role_arn": "<the serving role>", "instance_count": 2,
     "channels": [{"name": "train", "uri": "s3://bucket/mnist/train/"}, ...],
     "hyperparameters": {"epochs": "1", "sagemaker_program": "chainer_mnist.py",
                         "sagemaker_submit_directory": "s3://bucket/code/chainer-mnist/<run>/sourcedir.tar.gz"},
     "model_environment": {"SAGEMAKER_PROGRAM": "chainer_mnist.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://..."},
     "transform_input": "s3://bucket/mnist/transform/",
     "outputs": {"model": "s3://bucket/models/chainer-mnist/<run>/", "transform": "s3://bucket/transform/..."},
     "instance_types": {"training": "ml.m5.large", "transform": "ml.m5.large"},
     "stopping_condition": {"MaxRuntimeInSeconds": 3600}, "managed_spot": false}

Without a script the hyperparameters are the built-in trainer's and ``model_environment`` is ``{}``: the same
definition runs both flows. With managed spot training ``managed_spot`` is true and the stopping condition also
has ``MaxWaitTimeInSeconds``; checkpoints go to ``<outputs.model><training job>/checkpoints/`` either way. The
channels, their bucket prefix and the built-in trainer's hyperparameters come from the image's descriptor
(``containers/<image>/image.toml``); a batch-transform workflow reads its input from ``<prefix>/transform/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from byoc_pipelines.asl.definitions import Definition, find
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.sagemaker.script_mode import SOURCEDIR, Script

SAMPLE_TAG = "sample"  # image tag of the validation samples (never deployed)


def _run_folder(run: str) -> str:
    return f"{run}/" if run else ""


def code_uri(
    config: PipelineConfig, definition: str, run: str = "", known: Mapping[str, Definition] | None = None
) -> str:
    """Where a run's ``sourcedir.tar.gz`` goes: ``s3://<bucket>/code/<image>/<run>/sourcedir.tar.gz``."""
    image_name = find(definition, known).image.name
    return config.s3_uri(f"{config.code_prefix}{image_name}/{_run_folder(run)}{SOURCEDIR}")


def execution_input(
    definition: str,
    config: PipelineConfig,
    image: str | None = None,
    *,
    run: str = "",
    script: Script | None = None,
    instance_count: int = 1,
    hyperparameters: Mapping[str, str] | None = None,
    spot: bool = False,
    known: Mapping[str, Definition] | None = None,
) -> dict[str, Any]:
    """The input of ``definition`` (of the catalogue ``known``, default the repository's images) with the
    config's bucket layout; outputs in a folder per ``run``.

    ``spot`` asks for managed spot training (a spot interruption restarts the job from its checkpoints).
    """
    described = find(definition, known).image
    image_name, data, per_run = described.name, described.data_prefix or described.name, _run_folder(run)
    given: dict[str, Any] = {
        "image": image or config.image_uri(image_name, SAMPLE_TAG),
        "role_arn": config.training_role_arn,
        "model_role_arn": config.serving_role_arn,
        "instance_count": instance_count,
        "channels": [{"name": c.name, "uri": config.s3_uri(f"{data}/{c.name}/")} for c in described.channels],
        "hyperparameters": {
            **described.workflow_hyperparameters,
            **(hyperparameters or {}),
            **(script.hyperparameters() if script else {}),
        },
        "model_environment": script.model_environment() if script else {},
        "outputs": {"model": config.s3_uri(f"{config.model_prefix}{image_name}/{per_run}")},
        **stopping(config, spot),
    }
    if described.outcome == "batch-transform":
        given["transform_input"] = config.s3_uri(f"{data}/transform/")
        given["outputs"]["transform"] = config.s3_uri(f"{config.transform_prefix}{image_name}/{per_run}")
        given["instance_types"] = {
            "training": config.training_instance_type,
            "transform": config.transform_instance_type,
        }
        return given
    given["instance_types"] = {"training": config.training_instance_type, "endpoint": config.endpoint_instance_type}
    given["wait_seconds"] = config.endpoint_wait_seconds
    return given


def stopping(config: PipelineConfig, spot: bool) -> dict[str, Any]:
    """``stopping_condition`` and ``managed_spot`` of an input: the runtime limit, and the spot wait when asked."""
    condition: dict[str, int] = {"MaxRuntimeInSeconds": config.max_runtime_seconds}
    if spot:
        condition["MaxWaitTimeInSeconds"] = max(config.max_wait_seconds, config.max_runtime_seconds)
    return {"stopping_condition": condition, "managed_spot": spot}


def sample_input(
    definition: str, config: PipelineConfig, known: Mapping[str, Definition] | None = None
) -> dict[str, Any]:
    """A script-mode input on two hosts with managed spot training: it exercises every field of the definition."""
    script = Script("train.py", code_uri(config, definition, known=known))
    return execution_input(definition, config, script=script, instance_count=2, spot=True, known=known)
