"""The validators of a definition: statelint, asl-validator (npm), graph checks, and SageMaker request shapes.

The request check resolves each task's ``Parameters`` the way Step Functions does, by running the definition
with a sample input on moto's interpreter against :class:`FakeSageMaker`, then validates the parameters of every
scheduled SageMaker task (and the CreateModel payload of the Lambda variant) with botocore's ParamValidator.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byoc_pipelines.arns import operation_name
from byoc_pipelines.botocore_check import request_errors, service_model
from byoc_pipelines.definitions import check_graph
from byoc_pipelines.errors import DefinitionError, PipelineError

ASL_VALIDATOR_ENV = "ASL_VALIDATOR"  # path of the asl-validator executable, if not in node_modules/.bin


class ToolMissingError(PipelineError):
    """A validator's executable is not installed."""


@dataclass(frozen=True)
class ScheduledTask:
    state: str
    resource_type: str  # "sagemaker", "aws-sdk:sagemaker", "lambda"
    resource: str  # "createTrainingJob.sync", "describeEndpoint", "invoke"
    parameters: dict[str, Any]


@contextlib.contextmanager
def _as_file(definition: Mapping[str, Any]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="asl-") as folder:
        path = Path(folder) / "definition.json"
        path.write_text(json.dumps(definition, indent=2))
        yield path


def _run(command: list[str]) -> list[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode == 0:
        return []
    lines = (result.stdout + result.stderr).splitlines()
    return [line.strip() for line in lines if line.strip() and "npm warn" not in line] or [f"exit {result.returncode}"]


def statelint(definition: Mapping[str, Any]) -> list[str]:
    """Problems found by ``statelint`` (the Python port of awslabs/statelint)."""
    executable = Path(sys.executable).with_name("statelint")
    if not executable.exists():
        found = shutil.which("statelint")
        if found is None:
            raise ToolMissingError("statelint is not installed (pip install statelint==3.1.0)")
        executable = Path(found)
    with _as_file(definition) as path:
        return _run([str(executable), str(path)])


def asl_validator_path(start: Path | None = None) -> Path:
    """``$ASL_VALIDATOR``, else ``node_modules/.bin/asl-validator`` in the working folder or a parent."""
    if os.environ.get(ASL_VALIDATOR_ENV):
        return Path(os.environ[ASL_VALIDATOR_ENV])
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "node_modules" / ".bin" / "asl-validator"
        if path.exists():
            return path
    found = shutil.which("asl-validator")
    if found is None:
        raise ToolMissingError("asl-validator is not installed (npm ci at the repository root)")
    return Path(found)


def asl_validator(definition: Mapping[str, Any]) -> list[str]:
    """Problems found by the npm ``asl-validator`` (JSON schema, JSONPath and intrinsic syntax)."""
    executable = asl_validator_path()
    with _as_file(definition) as path:
        return _run([str(executable), "--json-path", str(path)])


def resources_known(definition: Mapping[str, Any]) -> list[str]:
    """Every ``sagemaker:`` resource names a SageMaker operation (catches ``createTrainingJobb.sync``)."""
    names = service_model().operation_names
    problems = []
    for state_name, state in definition["States"].items():
        resource = state.get("Resource", "")
        service, operation = operation_name(resource)
        if service in ("sagemaker", "aws-sdk:sagemaker") and operation not in names:
            problems.append(f"{state_name}: {resource} is not a SageMaker operation")
    return problems


def scheduled_tasks(definition: Mapping[str, Any], sample_input: Mapping[str, Any]) -> list[ScheduledTask]:
    """Run the definition with a fake SageMaker and collect each task's resolved parameters."""
    from byoc_pipelines.fake_sagemaker import FakeSageMaker
    from byoc_pipelines.sfn_local import Integrations, execute

    # The sample run only resolves parameters: without Retry blocks a failing task does not sleep and repeat.
    definition = {**definition, "States": {k: _without_retry(v) for k, v in definition["States"].items()}}
    fake = FakeSageMaker(validate=False, creating_polls=0)
    functions = {
        state["Parameters"]["FunctionName"]: lambda event: fake.call("CreateModel", event)
        for state in definition["States"].values()
        if state.get("Resource", "").startswith("arn:aws:states:::lambda:") and "FunctionName" in state["Parameters"]
    }
    _, events = execute(definition, sample_input, Integrations(fake, functions), name="validate-sample", timeout_s=60)
    tasks, state = [], ""
    for event in events:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        details = event.get("taskScheduledEventDetails")
        if details:
            parameters = json.loads(details["parameters"])
            tasks.append(ScheduledTask(state, details["resourceType"], details["resource"], parameters))
    return tasks


def _without_retry(state: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != "Retry"}


def request_shapes(
    definition: Mapping[str, Any],
    sample_input: Mapping[str, Any],
    lambda_payloads: Mapping[str, str] | None = None,
) -> list[str]:
    """botocore's verdict on every SageMaker task, and on Lambda payloads named in ``lambda_payloads``.

    ``lambda_payloads`` maps a function name to the SageMaker operation its payload is a request of.
    """
    problems = resources_known(definition)
    for task in scheduled_tasks(definition, sample_input):
        if task.resource_type in ("sagemaker", "aws-sdk:sagemaker"):
            operation, request = task.resource.split(".", 1)[0], task.parameters
            operation = operation[:1].upper() + operation[1:]
        elif task.resource_type == "lambda" and task.parameters.get("FunctionName") in (lambda_payloads or {}):
            operation = (lambda_payloads or {})[task.parameters["FunctionName"]]
            request = task.parameters.get("Payload") or {}
            if isinstance(request, str):
                request = json.loads(request)
        else:
            continue
        problems += [f"{task.state}: {operation}: {error}" for error in request_errors(operation, request)]
    return list(dict.fromkeys(problems))  # each problem once


VALIDATORS = ("graph", "statelint", "asl-validator", "botocore")


def validate(
    definition: Mapping[str, Any],
    sample_input: Mapping[str, Any],
    lambda_payloads: Mapping[str, str] | None = None,
    validators: tuple[str, ...] = VALIDATORS,
) -> dict[str, list[str]]:
    """Problems per validator (empty lists when the definition passes)."""
    results: dict[str, list[str]] = {}
    for name in validators:
        if name == "graph":
            try:
                check_graph(definition)
                results[name] = []
            except DefinitionError as exc:
                results[name] = [str(exc)]
        elif name == "statelint":
            results[name] = statelint(definition)
        elif name == "asl-validator":
            results[name] = asl_validator(definition)
        elif name == "botocore":
            results[name] = request_shapes(definition, sample_input, lambda_payloads)
        else:
            raise PipelineError(f"unknown validator {name!r}; known: {', '.join(VALIDATORS)}")
    return results
