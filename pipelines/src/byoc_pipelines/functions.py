"""The project's Lambda function (CreateModel, for the Lambda variant): where its source is, and running it here.

:mod:`byoc_pipelines.aws.deploy` zips the source for AWS; local runs and the validators load the same module
and call its ``create_model`` with a runner instead of a boto3 client.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.sagemaker.runner import ModelClient, SageMakerRunner

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"  # pipelines/lambda in the source tree
LAMBDA_SOURCE = LAMBDA_DIR / "create_model.py"

LambdaFunction = Callable[[Any], Any]  # event -> result, as a Lambda handler without its context


def load_create_model(source: Path = LAMBDA_SOURCE) -> ModuleType:
    """The function's module, loaded from its file (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("byoc_create_model_lambda", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process(config: PipelineConfig, runner: SageMakerRunner) -> dict[str, LambdaFunction]:
    """The project's functions by name, calling SageMaker through ``runner``."""
    module = load_create_model()
    client = ModelClient(runner)

    def create_model(event: Any) -> Any:
        return module.create_model(client, event)

    return {config.create_model_function: create_model}
