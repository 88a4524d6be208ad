"""Run our definitions on moto's Step Functions interpreter, with SageMaker and Lambda tasks routed to Python.

moto runs executions (``execute_state_machine``) but rejects ``sagemaker:*.sync`` and has no extension point
for task integrations. :func:`adapter` swaps the task factory ``state_task_service_for`` *as imported by*
moto's ``state_task_factory`` module for one returning the classes of :mod:`byoc_pipelines.local.tasks`; every
other integration stays moto's. moto re-syncs this interpreter from LocalStack, so ``moto`` is pinned and a test
asserts the patched path still exists.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Final

import boto3
from moto import mock_aws

from byoc_pipelines.aws import executions
from byoc_pipelines.local.tasks import TASK_CLASSES, Integrations

FACTORY_MODULE: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory"
FACTORY_NAME: Final = "state_task_service_for"
LOCAL_ROLE_ARN: Final = "arn:aws:iam::123456789012:role/byoc-local-execution"

__all__ = ["FACTORY_MODULE", "Integrations", "adapter", "execute", "factory_module"]


def factory_module() -> ModuleType:
    """The module whose ``state_task_service_for`` we replace; fails loudly when moto moves it."""
    module = importlib.import_module(FACTORY_MODULE)
    if not callable(getattr(module, FACTORY_NAME, None)):
        raise RuntimeError(f"{FACTORY_MODULE}.{FACTORY_NAME} is gone: the adapter needs updating for this moto")
    return module


@contextlib.contextmanager
def adapter(integrations: Integrations) -> Iterator[None]:
    """Route SageMaker, aws-sdk:sagemaker and Lambda tasks to ``integrations`` while the block runs.

    Create and start state machines inside the block: moto builds the task objects when it parses a definition.
    """
    module = factory_module()
    original = getattr(module, FACTORY_NAME)

    def state_task_service_for(service_name: str) -> Any:
        if service_name in TASK_CLASSES:
            return TASK_CLASSES[service_name](integrations)
        return original(service_name)

    setattr(module, FACTORY_NAME, state_task_service_for)
    try:
        yield
    finally:
        setattr(module, FACTORY_NAME, original)


def execute(
    definition: Mapping[str, Any],
    execution_input: Mapping[str, Any],
    integrations: Integrations,
    *,
    name: str,
    emit: Callable[[str], None] | None = None,
    region: str = "us-east-1",
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``definition`` once on moto's interpreter with the adapter; ``(describe_execution, history)``.

    Everything happens inside ``mock_aws``, so no call leaves the process for AWS; it nests in a caller's own
    ``mock_aws`` (whose backends, e.g. moto's SageMaker, the integrations may then use).
    """
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), adapter(integrations):
        sfn = boto3.client("stepfunctions", region_name=region)
        machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN)
        execution_arn = executions.start(sfn, machine["stateMachineArn"], name, execution_input)
        described = executions.follow(
            sfn, execution_arn, emit or (lambda _line: None), poll_s=poll_s, timeout_s=timeout_s
        )
        return described, executions.history(sfn, execution_arn)
