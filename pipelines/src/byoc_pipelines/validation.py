"""Every validator of a definition: graph soundness, statelint, asl-validator, and SageMaker request shapes.

The request check resolves each task's ``Parameters`` the way Step Functions does, by executing the definition
with a sample input on moto's interpreter whose SageMaker tasks go to moto's own SageMaker backend (through a
boto3 client that skips botocore's parameter validation, so a bad request reaches the history unchanged), then
checks the parameters of every scheduled SageMaker task, and of the Lambda payloads that are SageMaker requests,
against botocore's request shapes. The failure path is walked as well: every ``Catch`` target the sample run did
not reach is executed from there, with the input of the sample's last task and a caught error, and so is every
other Task it did not reach (the update of an endpoint that exists).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

from byoc_pipelines.asl import graph, lint
from byoc_pipelines.asl.arns import operation, operation_name
from byoc_pipelines.errors import DefinitionError
from byoc_pipelines.functions import LambdaFunction, load_create_model
from byoc_pipelines.local.stepfunctions import Integrations, execute
from byoc_pipelines.logs import quiet
from byoc_pipelines.sagemaker.runner import ClientRunner
from byoc_pipelines.sagemaker.shapes import is_operation, request_errors

VALIDATORS = ("graph", "statelint", "asl-validator", "botocore")
SAMPLE_EXECUTION = "validate-sample"
SAMPLE_ERROR = {"Error": "States.TaskFailed", "Cause": "a sample failure (validation walks the failure path)"}
SAGEMAKER_TYPES = ("sagemaker", "aws-sdk:sagemaker")
# Bad requests must reach moto as they are, and a request moto cannot take must fail once, not be retried.
UNCHECKED_CLIENT = Config(parameter_validation=False, retries={"total_max_attempts": 1})


@dataclass(frozen=True)
class ScheduledTask:
    state: str
    resource_type: str  # "sagemaker", "aws-sdk:sagemaker", "lambda"
    resource: str  # "createTrainingJob.sync", "describeEndpoint", "invoke"
    parameters: dict[str, Any]


def resources_known(definition: Mapping[str, Any]) -> list[str]:
    """Every ``sagemaker:`` resource names a SageMaker operation (catches ``createTrainingJobb.sync``)."""
    problems = []
    for state_name, state in definition["States"].items():
        resource = state.get("Resource", "")
        service, name = operation_name(resource)
        if service in SAGEMAKER_TYPES and not is_operation(name):
            problems.append(f"{state_name}: {resource} is not a SageMaker operation")
    return problems


def _without_retry(state: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != "Retry"}


def _functions(runner: ClientRunner, lambda_payloads: Mapping[str, str]) -> dict[str, LambdaFunction]:
    """The CreateModel function, in process, under each name whose payload is a CreateModel request."""
    module = load_create_model()

    def create_model(event: Any) -> Any:
        return module.create_model(runner.client, event)

    return {name: create_model for name, op in lambda_payloads.items() if op == "CreateModel"}


def _catch_targets(definition: Mapping[str, Any]) -> list[str]:
    """Every state a Catch leads to, then every Task (one the sample may not reach, such as updating an endpoint
    that exists), in definition order, each once."""
    states = definition["States"]
    targets = [c["Next"] for state in states.values() for c in state.get("Catch", [])]
    targets += [name for name, state in states.items() if state["Type"] == "Task"]
    return list(dict.fromkeys(targets))


def _last_task_input(events: list[dict[str, Any]]) -> dict[str, Any]:
    inputs = [json.loads(e["stateEnteredEventDetails"]["input"]) for e in events if e["type"] == "TaskStateEntered"]
    return dict(inputs[-1]) if inputs else {}


def _tasks_of(events: list[dict[str, Any]]) -> list[ScheduledTask]:
    tasks, state = [], ""
    for event in events:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        details = event.get("taskScheduledEventDetails")
        if details:
            parameters = json.loads(details["parameters"])
            tasks.append(ScheduledTask(state, details["resourceType"], details["resource"], parameters))
    return tasks


def scheduled_tasks(
    definition: Mapping[str, Any],
    sample_input: Mapping[str, Any],
    lambda_payloads: Mapping[str, str] | None = None,
    region: str = "us-east-1",
) -> list[ScheduledTask]:
    """Execute the definition against moto's SageMaker and collect each task's resolved parameters.

    Then each Catch target the run did not reach is run from, with the last task's input and a caught error.
    """
    # The sample run only resolves parameters: without Retry blocks a failing task does not sleep and repeat.
    definition = {**definition, "States": {k: _without_retry(v) for k, v in definition["States"].items()}}
    with mock_aws(), quiet("moto.stepfunctions.parser"):  # the failure path's calls fail on moto, as meant
        runner = ClientRunner(boto3.client("sagemaker", region_name=region, config=UNCHECKED_CLIENT))
        integrations = Integrations(runner, _functions(runner, lambda_payloads or {}))
        _, events = execute(definition, sample_input, integrations, name=SAMPLE_EXECUTION, region=region, timeout_s=60)
        entered = {e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e}
        failed_input = {**_last_task_input(events), "error": SAMPLE_ERROR}
        for index, target in enumerate(_catch_targets(definition)):
            if target in entered:
                continue
            name = f"{SAMPLE_EXECUTION}-catch-{index}"
            start = {**definition, "StartAt": target}
            _, more = execute(start, failed_input, integrations, name=name, region=region, timeout_s=60)
            entered |= {e["stateEnteredEventDetails"]["name"] for e in more if "stateEnteredEventDetails" in e}
            events += more
    return _tasks_of(events)


def _as_request(task: ScheduledTask, lambda_payloads: Mapping[str, str]) -> tuple[str, Any] | None:
    """``(operation, request)`` of a task that sends a SageMaker request, else None."""
    if task.resource_type in SAGEMAKER_TYPES:
        return operation(task.resource), task.parameters
    if task.resource_type == "lambda" and task.parameters.get("FunctionName") in lambda_payloads:
        payload = task.parameters.get("Payload") or {}
        return lambda_payloads[task.parameters["FunctionName"]], json.loads(payload) if isinstance(
            payload, str
        ) else payload
    return None


def request_shapes(
    definition: Mapping[str, Any],
    sample_input: Mapping[str, Any],
    lambda_payloads: Mapping[str, str] | None = None,
) -> list[str]:
    """botocore's verdict on every SageMaker task, and on Lambda payloads named in ``lambda_payloads``.

    ``lambda_payloads`` maps a function name to the SageMaker operation its payload is a request of.
    """
    payloads = lambda_payloads or {}
    problems = resources_known(definition)
    for task in scheduled_tasks(definition, sample_input, payloads):
        found = _as_request(task, payloads)
        if found is not None:
            name, request = found
            problems += [f"{task.state}: {name}: {error}" for error in request_errors(name, request)]
    return list(dict.fromkeys(problems))  # each problem once


def _graph(definition: Mapping[str, Any]) -> list[str]:
    try:
        graph.check_graph(definition)
    except DefinitionError as exc:
        return [str(exc)]
    return []


def validate(
    definition: Mapping[str, Any],
    sample_input: Mapping[str, Any],
    lambda_payloads: Mapping[str, str] | None = None,
    validators: tuple[str, ...] = VALIDATORS,
) -> dict[str, list[str]]:
    """Problems per validator (empty lists when the definition passes)."""
    unknown = [name for name in validators if name not in VALIDATORS]
    if unknown:
        raise DefinitionError(f"unknown validator {unknown[0]!r}; known: {', '.join(VALIDATORS)}")
    results: dict[str, list[str]] = {}
    for name in validators:
        if name == "graph":
            results[name] = _graph(definition)
        elif name == "statelint":
            results[name] = lint.statelint(definition)
        elif name == "asl-validator":
            results[name] = lint.asl_validator(definition)
        else:
            results[name] = request_shapes(definition, sample_input, lambda_payloads)
    return results
