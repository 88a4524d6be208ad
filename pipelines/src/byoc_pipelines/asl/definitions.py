"""Whole state machine definitions, one per image and outcome (batch transform, endpoint), built from the state
builders; the catalogue at the end reads the images' descriptors (the tutorial's Chainer batch, the Keras endpoint).

Per-run values come from the execution input (see :mod:`byoc_pipelines.asl.inputs`): ``$.image``, ``$.role_arn``
(the training job's role), ``$.model_role_arn`` (the model's: its endpoints and transforms),
``$.instance_count``, ``$.channels`` (a list of ``{"name", "uri"}``), ``$.hyperparameters`` (with
``sagemaker_program`` / ``sagemaker_submit_directory`` for script mode), ``$.model_environment`` (with
``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY`` to serve a user module), ``$.transform_input``,
``$.outputs.*``, ``$.instance_types.*``, ``$.stopping_condition`` and ``$.managed_spot`` (managed spot training),
``$.wait_seconds``. Job, model and endpoint names are made from ``$$.Execution.Name`` in the first state, so
re-runs never collide. The model artifact flows from the training result (``ModelArtifacts.S3ModelArtifacts``):
AWS and local mode lay out the output folder differently.

Every SageMaker task retries SageMaker's API errors with backoff and catches the rest into the failure path
(:mod:`byoc_pipelines.asl.failure_path`): stop what may still run, delete what the execution created, then fail
with the original error and cause. Training sends ``MetricDefinitions`` (SageMaker charts them) and
``CheckpointConfig`` (a restarted spot job resumes from its checkpoints).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from byoc_pipelines import descriptor
from byoc_pipelines.asl import blue_green
from byoc_pipelines.asl.arns import Api, Service, integration_arn
from byoc_pipelines.asl.failure_path import BATCH_CLEAN_UP, ENDPOINT_CLEAN_UP, failure_path, retrying
from byoc_pipelines.asl.states import (
    LAMBDA_RETRY_ERRORS,
    SAGEMAKER_RETRY_ERRORS,
    SDK_RETRY_ERRORS,
    Ref,
    StateName,
    fail_state,
    fmt,
    lambda_task,
    map_state,
    pass_state,
    sagemaker_task,
    succeed_state,
    task,
    wait_state,
)
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.descriptor import Batch, Descriptor
from byoc_pipelines.errors import DefinitionError
from byoc_pipelines.sagemaker import requests as sm

RENDERED_DIR = Path(__file__).resolve().parents[3] / "definitions"  # pipelines/definitions: JSON and pictures
EXECUTION_NAME = "$$.Execution.Name"
NAMES = "$.names"
INPUT_DATA_CONFIG = "$.input_data_config"  # Build Channels' result: CreateTrainingJob's InputDataConfig
ITEM = "$$.Map.Item.Value"
ENDPOINT = "$.endpoint"  # CreateEndpoint's ARN and the count of DescribeEndpoint polls so far
# Metric lines both images log once per epoch (``epoch=3 train_loss=0.04 ... val_accuracy=0.98``), as
# sm_contract.metrics.metric_definitions writes their definitions; SageMaker charts what the regexes match.
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class CreateModelVia(StrEnum):
    """How the model is created: the native integration, or the older tutorial's Lambda function."""

    NATIVE = "native"
    LAMBDA = "lambda"


def metric_definitions(names: Sequence[str] = METRICS) -> list[dict[str, str]]:
    """``MetricDefinitions`` matching the images' ``name=value`` metric lines."""
    return [{"Name": name, "Regex": rf"\b{name}=([-+0-9.eE]+|nan|inf)"} for name in names]


def _names(config: PipelineConfig, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The first state: ``$.names.<kind>`` = ``<prefix>-<execution name>-<suffix>``."""
    params = {kind: fmt(f"{config.prefix}-{{}}-{suffix}", EXECUTION_NAME) for kind, suffix in kinds.items()}
    return pass_state(params, result_path=NAMES, next_state=StateName.BUILD_CHANNELS)


def _channels() -> dict[str, Any]:
    """``$.channels`` (``[{"name": "train", "uri": "s3://..."}, ...]``) as CreateTrainingJob's InputDataConfig."""
    channel = sm.channel(Ref(f"{ITEM}.name"), Ref(f"{ITEM}.uri"))
    return map_state("$.channels", channel, result_path=INPUT_DATA_CONFIG, next_state=StateName.TRAIN_MODEL)


def _train(config: PipelineConfig, next_state: StateName, catch_to: StateName) -> dict[str, Any]:
    request = sm.training_job(
        Ref("$.names.training_job"),
        Ref("$.image"),
        {},
        Ref("$.outputs.model"),
        role_arn=Ref("$.role_arn"),
        instance_type=Ref("$.instance_types.training"),
        metric_definitions=metric_definitions(),
        checkpoint_uri=fmt("{}{}/checkpoints/", "$.outputs.model", "$.names.training_job"),
    )
    request["InputDataConfig"] = Ref(INPUT_DATA_CONFIG)
    request["ResourceConfig"]["InstanceCount"] = Ref("$.instance_count")
    # A string map given whole by the input: the built-in trainer's settings, or a script's arguments with
    # sagemaker_program and sagemaker_submit_directory (script mode).
    request["HyperParameters"] = Ref("$.hyperparameters")
    # MaxRuntimeInSeconds, and for managed spot training MaxWaitTimeInSeconds with EnableManagedSpotTraining true.
    request["StoppingCondition"] = Ref("$.stopping_condition")
    request["EnableManagedSpotTraining"] = Ref("$.managed_spot")
    return sagemaker_task(
        Api.CREATE_TRAINING_JOB,
        request,
        sync=True,
        result_selector={
            "TrainingJobName.$": "$.TrainingJobName",
            "ModelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
        },
        result_path="$.training",
        next_state=next_state,
        timeout_s=config.training_timeout_seconds,
        **retrying(config, catch_to),
    )


def _create_model(
    config: PipelineConfig, via: CreateModelVia, next_state: StateName, catch_to: StateName
) -> dict[str, Any]:
    request = sm.model(
        Ref("$.names.model"), Ref("$.image"), Ref("$.training.ModelArtifacts"), role_arn=Ref("$.model_role_arn")
    )
    # {} for the image's own model; SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY serve a user's module.
    request["PrimaryContainer"]["Environment"] = Ref("$.model_environment")
    common: dict[str, Any] = {"result_path": "$.model", "next_state": next_state}
    if via is CreateModelVia.LAMBDA:
        # The function receives the CreateModel request as its event and answers CreateModel's response.
        return lambda_task(
            config.create_model_function,
            request,
            result_selector={"ModelArn.$": "$.Payload.ModelArn"},
            comment="CreateModel through a Lambda function (the pattern of the original tutorial)",
            **common,
            **retrying(config, catch_to, LAMBDA_RETRY_ERRORS + SAGEMAKER_RETRY_ERRORS),
        )
    return sagemaker_task(
        Api.CREATE_MODEL, request, result_selector={"ModelArn.$": "$.ModelArn"}, **common, **retrying(config, catch_to)
    )


def batch_transform_workflow(
    config: PipelineConfig, via: CreateModelVia = CreateModelVia.NATIVE, batch: Batch | None = None
) -> dict[str, Any]:
    """Train, create the model, batch-transform ``$.transform_input`` as the image's descriptor says (the
    tutorial's Chainer flow: ``test.npy`` whole as one request, one label per line)."""
    batch = batch or Batch(content_type="application/x-npy")
    transform = sm.transform_job(
        Ref("$.names.transform_job"),
        Ref("$.names.model"),
        Ref("$.transform_input"),
        Ref("$.outputs.transform"),
        content_type=batch.content_type or "application/octet-stream",
        split_type=batch.split_type,  # None: each file is one request
        instance_type=Ref("$.instance_types.transform"),
        max_payload_mb=batch.max_payload_mb,
    )
    failed = BATCH_CLEAN_UP[0].state
    states = {
        StateName.NAME_RESOURCES: _names(
            config, {"training_job": "train", "model": "model", "transform_job": "transform"}
        ),
        StateName.BUILD_CHANNELS: _channels(),
        StateName.TRAIN_MODEL: _train(config, StateName.CREATE_MODEL, failed),
        StateName.CREATE_MODEL: _create_model(config, via, StateName.BATCH_TRANSFORM, failed),
        StateName.BATCH_TRANSFORM: sagemaker_task(
            Api.CREATE_TRANSFORM_JOB,
            transform,
            sync=True,
            result_selector={
                "TransformJobName.$": "$.TransformJobName",
                "TransformJobStatus.$": "$.TransformJobStatus",
                "S3OutputPath.$": "$.TransformOutput.S3OutputPath",
            },
            result_path="$.transform",
            next_state=None,
            **retrying(config, failed),
        ),
        **failure_path(config, BATCH_CLEAN_UP),
    }
    return _machine("train, create the model, batch transform", states)


def endpoint_states(config: PipelineConfig, catch_to: StateName, endpoint_name: str) -> dict[StateName, dict[str, Any]]:
    """Endpoint config, then the endpoint created or (when it exists) updated blue/green, then Wait /
    DescribeEndpoint / Choice until InService on the new config (at most N polls)."""
    endpoint_config = sm.endpoint_config(
        Ref("$.names.endpoint_config"), Ref("$.names.model"), instance_type=Ref("$.instance_types.endpoint")
    )
    endpoint = {"EndpointName": Ref("$.names.endpoint"), "EndpointConfigName": Ref("$.names.endpoint_config")}
    return {
        StateName.CREATE_ENDPOINT_CONFIG: sagemaker_task(
            Api.CREATE_ENDPOINT_CONFIG,
            endpoint_config,
            result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn"},
            result_path="$.endpoint_config",
            next_state=StateName.FIND_ENDPOINT,
            **retrying(config, catch_to),
        ),
        **blue_green.find_or_update(
            config,
            catch_to,
            endpoint_name,
            created=sagemaker_task(
                Api.CREATE_ENDPOINT,
                endpoint,
                result_selector={"EndpointArn.$": "$.EndpointArn", "Polls": 0, "Created": True},
                result_path=ENDPOINT,
                next_state=StateName.WAIT_FOR_ENDPOINT,
                **retrying(config, catch_to),
            ),
        ),
        **endpoint_polling(config, catch_to),
    }


def endpoint_polling(config: PipelineConfig, catch_to: StateName) -> dict[StateName, dict[str, Any]]:
    """Wait, DescribeEndpoint, and a Choice: InService on the new config succeeds; Failed goes to the failure path
    as EndpointFailed, UpdateRollbackFailed or InService on the old config (rolled back) fails as
    EndpointNotUpdated, each with DescribeEndpoint's FailureReason; anything else polls again."""
    return {
        StateName.WAIT_FOR_ENDPOINT: wait_state("$.wait_seconds", StateName.DESCRIBE_ENDPOINT),
        StateName.DESCRIBE_ENDPOINT: task(
            integration_arn(Service.AWS_SDK_SAGEMAKER, Api.DESCRIBE_ENDPOINT, partition=config.partition),
            {"EndpointName": Ref("$.names.endpoint")},
            result_path=blue_green.STATUS,
            next_state=StateName.ENDPOINT_READY,
            retriers=retrying(config, catch_to, SDK_RETRY_ERRORS)["retriers"],
            catch_to=catch_to,
        ),
        StateName.ENDPOINT_READY: {
            "Type": "Choice",
            "Choices": [
                *blue_green.settled_choices("$.names.endpoint_config"),
                {
                    "Variable": f"{ENDPOINT}.Polls",
                    "NumericGreaterThanEquals": config.endpoint_max_polls,
                    "Next": StateName.ENDPOINT_TIMED_OUT.value,
                },
            ],
            "Default": StateName.COUNT_ENDPOINT_POLL.value,
        },
        # Without a bound a stuck endpoint would keep the execution (and the instance bill) going for a year.
        StateName.COUNT_ENDPOINT_POLL: pass_state(
            {
                "EndpointArn": Ref(f"{ENDPOINT}.EndpointArn"),
                "Polls": Ref(f"States.MathAdd({ENDPOINT}.Polls, 1)"),
                "Created": Ref(f"{ENDPOINT}.Created"),
            },
            result_path=ENDPOINT,
            next_state=StateName.WAIT_FOR_ENDPOINT,
        ),
        StateName.NO_FAILURE_REASON: blue_green.no_failure_reason(StateName.ENDPOINT_READY),
        StateName.ENDPOINT_IN_SERVICE: succeed_state(),
        StateName.ENDPOINT_NOT_UPDATED: blue_green.not_updated(),
        StateName.ENDPOINT_FAILED: blue_green.endpoint_failed(catch_to),
        StateName.ENDPOINT_TIMED_OUT: fail_state(
            error="EndpointTimedOut",
            cause=f"The endpoint was not InService after {config.endpoint_max_polls} polls; it is left for inspection.",
        ),
    }


def endpoint_workflow(config: PipelineConfig, definition: str) -> dict[str, Any]:
    """Train, create the model and put it behind the endpoint of state machine ``definition``: created by the
    first execution, updated blue/green by later ones; polled until InService (the Keras flow)."""
    kinds = {"training_job": "train", "model": "model", "endpoint_config": "config"}
    names = _names(config, kinds)
    endpoint_name = blue_green.endpoint_name(config, definition)
    names["Parameters"]["endpoint"] = endpoint_name  # one per state machine: later executions update it
    failed = ENDPOINT_CLEAN_UP[0].state
    states = {
        StateName.NAME_RESOURCES: names,
        StateName.BUILD_CHANNELS: _channels(),
        StateName.TRAIN_MODEL: _train(config, StateName.CREATE_MODEL, failed),
        StateName.CREATE_MODEL: _create_model(config, CreateModelVia.NATIVE, StateName.CREATE_ENDPOINT_CONFIG, failed),
        **endpoint_states(config, failed, endpoint_name),
        **failure_path(config, ENDPOINT_CLEAN_UP),
    }
    comment = "train, create the model and endpoint config, create or update the endpoint, wait until InService"
    return _machine(comment, states)


def _machine(comment: str, states: Mapping[StateName, dict[str, Any]]) -> dict[str, Any]:
    first = next(iter(states))
    return {"Comment": comment, "StartAt": first.value, "States": {name.value: s for name, s in states.items()}}


# -- the catalogue ---------------------------------------------------------------------------------------------
# Each image's descriptor (containers/<name>/image.toml) names what its workflow ends in; the definitions are
# named after the image and that outcome.
SUFFIXES = {"batch-transform": "batch", "endpoint": "endpoint"}  # outcome -> the definition's name suffix


@dataclass(frozen=True)
class Definition:
    """One state machine of the catalogue: its name, the image it trains and how it is built."""

    name: str
    image: Descriptor
    builder: Callable[[PipelineConfig], dict[str, Any]]

    def build(self, config: PipelineConfig) -> dict[str, Any]:
        machine = self.builder(config)
        return {**machine, "Comment": f"{self.image.name}: {machine['Comment']}"}


def definition_name(image: Descriptor) -> str:
    """The name of the state machine that trains ``image`` (``keras-text-endpoint``; without ``-lambda``)."""
    return f"{image.name}-{SUFFIXES[image.outcome]}"


def _definitions(image: Descriptor) -> list[Definition]:
    name = definition_name(image)
    if image.outcome == "endpoint":
        return [Definition(name, image, functools.partial(endpoint_workflow, definition=name))]
    found = [Definition(name, image, functools.partial(batch_transform_workflow, batch=image.batch))]
    if image.workflow.create_model_lambda:
        lambda_builder = functools.partial(batch_transform_workflow, via=CreateModelVia.LAMBDA, batch=image.batch)
        found.append(Definition(f"{name}-lambda", image, lambda_builder))
    return found


def catalogue(containers: Path | None = None) -> dict[str, Definition]:
    """Every image's definitions, by name, from the descriptors under ``containers`` (default: the repository's)."""
    images = descriptor.discover(containers or descriptor.containers_dir())
    return {definition.name: definition for image in images for definition in _definitions(image)}


CATALOGUE = catalogue()
BUILDERS: dict[str, Callable[[PipelineConfig], dict[str, Any]]] = {n: d.build for n, d in CATALOGUE.items()}
IMAGE_OF = {name: definition.image.name for name, definition in CATALOGUE.items()}


def find(name: str, known: Mapping[str, Definition] | None = None) -> Definition:
    known = CATALOGUE if known is None else known
    if name not in known:
        raise DefinitionError(f"unknown definition {name!r}; known: {', '.join(known)}")
    return known[name]


def build(name: str, config: PipelineConfig, known: Mapping[str, Definition] | None = None) -> dict[str, Any]:
    return find(name, known).build(config)
