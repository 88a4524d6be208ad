"""Retry and Catch of every SageMaker task, and the failure path they lead to.

Every task retries SageMaker's API errors with backoff (``SageMaker.AmazonSageMakerException``, which is how
throttling arrives) and ``SageMaker.ResourceLimitExceededException`` more slowly, as AWS's training example does
(DG "Create and manage Amazon SageMaker jobs with Step Functions"), and catches the rest into :func:`failure_path`:
stop what may still run, delete what the execution created, then fail with the original error and cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from byoc_pipelines.asl.arns import Api, Service, integration_arn
from byoc_pipelines.asl.states import (
    SAGEMAKER_RESOURCE_LIMIT,
    SAGEMAKER_RETRY_ERRORS,
    SDK_RETRY_ERRORS,
    Ref,
    StateName,
    fail_state,
    retrier,
    task,
)
from byoc_pipelines.config import PipelineConfig

CLEAN_UP = "$.clean_up"  # what each state of the failure path answered (or the error it caught)


class Retrying(TypedDict):
    retriers: list[dict[str, Any]]
    partition: str
    catch_to: StateName


def retrying(config: PipelineConfig, catch_to: StateName, errors: Sequence[str] = SAGEMAKER_RETRY_ERRORS) -> Retrying:
    """Retry SageMaker's API errors with backoff and a resource limit more slowly; catch the rest to ``catch_to``."""
    return {
        "retriers": [
            retrier(errors, config.max_attempts, config.retry_interval_seconds),
            retrier(
                [SAGEMAKER_RESOURCE_LIMIT], config.resource_limit_max_attempts, config.resource_limit_interval_seconds
            ),
        ],
        "partition": config.partition,
        "catch_to": catch_to,
    }


@dataclass(frozen=True)
class CleanUp:
    """One state of the failure path: an aws-sdk SageMaker call naming what the execution may have left."""

    state: StateName
    api: Api
    field: str  # the request field naming the resource
    name_path: str  # where the execution keeps its name
    # (Choice state, boolean path): run the step only when the path is true, e.g. only for an endpoint this
    # execution created (a later execution updates the same endpoint and must never delete it)
    only_if: tuple[StateName, str] | None = None


STOP_TRAINING = CleanUp(StateName.STOP_TRAINING_JOB, Api.STOP_TRAINING_JOB, "TrainingJobName", "$.names.training_job")
STOP_TRANSFORM = CleanUp(
    StateName.STOP_TRANSFORM_JOB, Api.STOP_TRANSFORM_JOB, "TransformJobName", "$.names.transform_job"
)
DELETE_ENDPOINT = CleanUp(
    StateName.DELETE_ENDPOINT,
    Api.DELETE_ENDPOINT,
    "EndpointName",
    "$.names.endpoint",
    only_if=(StateName.ENDPOINT_CREATED_HERE, "$.endpoint.Created"),
)
DELETE_ENDPOINT_CONFIG = CleanUp(
    StateName.DELETE_ENDPOINT_CONFIG, Api.DELETE_ENDPOINT_CONFIG, "EndpointConfigName", "$.names.endpoint_config"
)
DELETE_MODEL = CleanUp(StateName.DELETE_MODEL, Api.DELETE_MODEL, "ModelName", "$.names.model")


def failure_path(config: PipelineConfig, steps: Sequence[CleanUp]) -> dict[StateName, dict[str, Any]]:
    """``steps`` in order, then ``Pipeline Failed`` with the caught error and cause (kept at ``$.error``).

    Each step is best effort: a job that already ended cannot be stopped and a resource never created cannot be
    deleted, so its error is recorded under ``$.clean_up`` and the path goes on. Names are per execution, so only
    what this execution created is touched.
    """
    states: dict[StateName, dict[str, Any]] = {}
    following = [_entry(step) for step in steps[1:]] + [StateName.PIPELINE_FAILED]
    for step, after in zip(steps, following, strict=True):
        where = f"{CLEAN_UP}.{step.api.value}"
        if step.only_if is not None:
            states[step.only_if[0]] = _only_if(step.only_if[1], step.state, after)
        states[step.state] = task(
            integration_arn(Service.AWS_SDK_SAGEMAKER, step.api, partition=config.partition),
            {step.field: Ref(step.name_path)},
            next_state=after,
            retriers=[retrier(SDK_RETRY_ERRORS, 1, config.retry_interval_seconds)],
            catch_to=after,
            catch_result_path=where,
            result_path=where,
        )
    states[StateName.PIPELINE_FAILED] = fail_state(error="PipelineFailed", cause_from_catch=True)
    return states


def _entry(step: CleanUp) -> StateName:
    return step.state if step.only_if is None else step.only_if[0]


def _only_if(path: str, then: StateName, otherwise: StateName) -> dict[str, Any]:
    """A Choice: ``then`` when the boolean at ``path`` is there and true, else ``otherwise``."""
    choices = [  # in order, so the boolean is compared only once it is known to be there
        {"Variable": path, "IsPresent": False, "Next": otherwise.value},
        {"Variable": path, "BooleanEquals": True, "Next": then.value},
    ]
    return {"Type": "Choice", "Choices": choices, "Default": otherwise.value}


BATCH_CLEAN_UP = (STOP_TRAINING, STOP_TRANSFORM, DELETE_MODEL)
ENDPOINT_CLEAN_UP = (STOP_TRAINING, DELETE_ENDPOINT, DELETE_ENDPOINT_CONFIG, DELETE_MODEL)
