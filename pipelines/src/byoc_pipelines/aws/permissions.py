"""What each Step Functions integration of our definitions needs in IAM, after AWS's own list.

The table follows "IAM policies for Amazon SageMaker" and the Lambda integration page of the Step Functions
developer guide (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html): a ``.sync`` job
also needs Describe/Stop on the job and the managed EventBridge rule Step Functions watches it with, every
SageMaker integration needs ``sagemaker:ListTags``, and a task that hands SageMaker a role needs
``iam:PassRole`` of that role. :func:`required` answers for one resolved task (the ARNs of the very job, model
or endpoint it names); :func:`patterns` for every task a definition can run (``<prefix>-*`` names), which is
what the Step Functions role is given. :func:`output_prefixes` says where in S3 the jobs the definitions start
write, and so what the training and serving roles may write (see :mod:`policies`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.asl.arns import integration
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import DefinitionError

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
PASSED_TO_SAGEMAKER = {"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}}
# Step Functions watches .sync SageMaker jobs through these managed EventBridge rules.
SYNC_RULES = {
    "createTrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "createTransformJob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
}


@dataclass(frozen=True)
class Permission:
    """One action on one resource (an ARN, or an ARN pattern), under optional IAM conditions."""

    action: str
    resource: str
    condition: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def key(self) -> tuple[str, str, str]:
        return self.action, self.resource, repr(sorted((k, sorted(v.items())) for k, v in self.condition.items()))


@dataclass(frozen=True)
class _Needs:
    """An integration's actions on the resource it names, its name field, whether it passes a role."""

    kind: str  # SageMaker resource type: training-job, model, ...
    name_field: str  # request field naming the resource
    actions: tuple[str, ...]
    also: tuple[tuple[str, str], ...] = ()  # (action, resource type named by another field) pairs
    passes_role: str | None = None  # request path of a role handed to SageMaker


_SAGEMAKER: Mapping[str, _Needs] = {
    "createTrainingJob": _Needs("training-job", "TrainingJobName", ("CreateTrainingJob",), passes_role="RoleArn"),
    "createTrainingJob.sync": _Needs(
        "training-job",
        "TrainingJobName",
        ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"),
        passes_role="RoleArn",
    ),
    "createModel": _Needs("model", "ModelName", ("CreateModel",), passes_role="ExecutionRoleArn"),
    "createTransformJob.sync": _Needs(
        "transform-job", "TransformJobName", ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob")
    ),
    "createEndpointConfig": _Needs("endpoint-config", "EndpointConfigName", ("CreateEndpointConfig",)),
    "createEndpoint": _Needs(
        "endpoint", "EndpointName", ("CreateEndpoint",), also=(("CreateEndpoint", "EndpointConfigName"),)
    ),
}
_KIND_OF_FIELD = {"EndpointConfigName": "endpoint-config"}
_SDK_SAGEMAKER: Mapping[str, _Needs] = {
    "describeEndpoint": _Needs("endpoint", "EndpointName", ("DescribeEndpoint",)),
    # a later execution's blue/green update; its DeploymentConfig's alarms need cloudwatch:DescribeAlarms too
    "updateEndpoint": _Needs(
        "endpoint", "EndpointName", ("UpdateEndpoint",), also=(("UpdateEndpoint", "EndpointConfigName"),)
    ),
    # the failure path: stop what may still run, delete what the execution created
    "stopTrainingJob": _Needs("training-job", "TrainingJobName", ("StopTrainingJob",)),
    "stopTransformJob": _Needs("transform-job", "TransformJobName", ("StopTransformJob",)),
    "deleteEndpoint": _Needs("endpoint", "EndpointName", ("DeleteEndpoint",)),
    "deleteEndpointConfig": _Needs("endpoint-config", "EndpointConfigName", ("DeleteEndpointConfig",)),
    "deleteModel": _Needs("model", "ModelName", ("DeleteModel",)),
}


def _sagemaker(config: PipelineConfig, needs: _Needs, request: Mapping[str, Any], sdk: bool) -> list[Permission]:
    def arn(kind: str, name: str) -> str:
        return config.arn("sagemaker", f"{kind}/{name}")

    found = [Permission(f"sagemaker:{action}", arn(needs.kind, request[needs.name_field])) for action in needs.actions]
    found += [
        Permission(f"sagemaker:{action}", arn(_KIND_OF_FIELD[name_field], request[name_field]))
        for action, name_field in needs.also
    ]
    if not sdk:
        found.append(Permission("sagemaker:ListTags", "*"))
    if needs.passes_role:
        found.append(Permission("iam:PassRole", request[needs.passes_role], PASSED_TO_SAGEMAKER))
    return found


def required(config: PipelineConfig, resource: str, request: Mapping[str, Any]) -> list[Permission]:
    """What the Step Functions role needs to run a Task ``resource`` with the resolved ``request``."""
    service, _, action = integration(resource).rpartition(":")
    if service == "sagemaker" and action in _SAGEMAKER:
        found = _sagemaker(config, _SAGEMAKER[action], request, sdk=False)
        api = action.removesuffix(".sync")
        if action.endswith(".sync"):
            rule = config.arn("events", f"rule/{SYNC_RULES[api]}")
            found += [Permission(f"events:{verb}", rule) for verb in ("PutTargets", "PutRule", "DescribeRule")]
        return found
    if service == "aws-sdk:sagemaker" and action in _SDK_SAGEMAKER:
        found = _sagemaker(config, _SDK_SAGEMAKER[action], request, sdk=True)
        # DG "Auto-Rollback Configuration and Monitoring": the caller may describe the alarms it names
        alarms = request.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
        return found + [Permission("cloudwatch:DescribeAlarms", _alarm(config, a["AlarmName"])) for a in alarms]
    if service == "aws-sdk:cloudwatch" and action == "putMetricAlarm":
        return [Permission("cloudwatch:PutMetricAlarm", _alarm(config, request["AlarmName"]))]
    if service == "lambda" and action == "invoke":
        name = str(request["FunctionName"])
        arn = name if name.startswith("arn:") else config.arn("lambda", f"function:{name}")
        return [Permission("lambda:InvokeFunction", arn)]
    raise DefinitionError(f"no IAM permissions known for {resource}: add them to byoc_pipelines.aws.permissions")


def _alarm(config: PipelineConfig, name: str) -> str:
    return config.arn("cloudwatch", f"alarm:{name}")


def _pattern_request(config: PipelineConfig, resource: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A stand-in request whose name fields are ``<prefix>-*`` and roles the SageMaker role."""
    names = {needs.name_field for needs in (*_SAGEMAKER.values(), *_SDK_SAGEMAKER.values())}
    request: dict[str, Any] = {name: f"{config.prefix}-*" for name in names | set(_KIND_OF_FIELD)}
    request |= {"RoleArn": config.training_role_arn, "ExecutionRoleArn": config.serving_role_arn}
    request["FunctionName"] = state.get("Parameters", {}).get("FunctionName", "")
    request["AlarmName"] = f"{config.prefix}-*"
    if "DeploymentConfig" in state.get("Parameters", {}):
        request["DeploymentConfig"] = {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{config.prefix}-*"}]}}
    return request


def _tasks(states: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for state in states.values():
        if state.get("Type") == "Task":
            found.append(state)
        if "ItemProcessor" in state:
            found += _tasks(state["ItemProcessor"]["States"])
    return found


def patterns(config: PipelineConfig, definitions: Mapping[str, Mapping[str, Any]]) -> list[Permission]:
    """Every permission the definitions' tasks can need, names as ``<prefix>-*``; each once, in first-use order."""
    found: dict[tuple[str, str, str], Permission] = {}
    for definition in definitions.values():
        for state in _tasks(definition["States"]):
            for permission in required(config, state["Resource"], _pattern_request(config, state["Resource"], state)):
                found.setdefault(permission.key(), permission)
    return list(found.values())


# Where each integration's job writes in S3 (request fields holding an s3:// location), and as which role:
# a training job as the role it names, a transform job as its model's role (the serving role).
OUTPUTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "createTrainingJob": ("training", ("OutputDataConfig.S3OutputPath", "CheckpointConfig.S3Uri")),
    "createTransformJob": ("serving", ("TransformOutput.S3OutputPath",)),
}


def outputs(resource: str, request: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """``(writer, [s3 locations])`` of one resolved task, or ``None`` when its job writes nothing to S3."""
    service, _, action = integration(resource).rpartition(":")
    found = OUTPUTS.get(action.removesuffix(".sync")) if service == "sagemaker" else None
    if found is None:
        return None
    writer, fields = found
    values = [_dig(request, name) for name in fields]
    return writer, [str(value) for value in values if value is not None]


def _dig(tree: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        if not isinstance(tree, Mapping):
            return None
        tree = tree.get(name, tree.get(f"{name}.$"))
    return tree


# States.Format('template', $.a, $.b) with input paths as its arguments (the definitions' checkpoint locations).
_FORMAT = re.compile(r"States\.Format\('([^'\\]*)'((?:\s*,\s*\$\.[\w.]+)*)\)")
UNKNOWN = "*"  # a Format argument the sample input has not (names the execution makes): fine past the prefix


def _resolve(value: Any, sample: Mapping[str, Any], where: str) -> Any:
    """A Parameters value as the sample input makes it: a literal, a ``$.`` path, or ``States.Format`` of paths."""
    if not isinstance(value, str):
        return value
    formatted = _FORMAT.fullmatch(value)
    if formatted:
        return _format(formatted.group(1), [a.strip() for a in formatted.group(2).split(",")[1:]], sample)
    if not value.startswith("$."):
        return value
    resolved = _dig(sample, value.removeprefix("$."))
    if resolved is None:
        raise DefinitionError(f"{where} = {value}: the sample input has no such value, so its S3 prefix is unknown")
    return resolved


def _format(template: str, arguments: list[str], sample: Mapping[str, Any]) -> str:
    """``States.Format``: each ``{}`` takes the next argument's value (:data:`UNKNOWN` where the sample has none)."""
    pieces = template.split("{}")
    values = [_dig(sample, argument.removeprefix("$.")) for argument in arguments]
    texts = [UNKNOWN if value is None else str(value) for value in values] + [""] * (len(pieces) - len(values))
    return "".join(piece + text for piece, text in zip(pieces, texts, strict=False))


def output_prefixes(
    definitions: Mapping[str, Mapping[str, Any]], samples: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[tuple[str, str]]]:
    """``{writer: [(bucket, top-level prefix)]}`` of every S3 output the definitions' jobs write (sample inputs)."""
    found: dict[str, list[tuple[str, str]]] = {"training": [], "serving": []}
    for name, definition in definitions.items():
        for state in _tasks(definition["States"]):
            request = state.get("Parameters", {})
            listed = outputs(state["Resource"], request)
            if listed is None:
                continue
            writer, values = listed
            for value in values:
                uri = str(_resolve(value, samples[name], f"{name}: {state['Resource']}"))
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                place = (bucket, key.split("/", 1)[0] + "/")
                if UNKNOWN in "".join(place):
                    raise DefinitionError(f"{name}: {state['Resource']} = {value}: its S3 prefix is unknown ({uri})")
                if place not in found[writer]:
                    found[writer].append(place)
    return found
