"""``pipeline-local``: the rendered definitions executed on moto's interpreter with real containers.

Data are staged into a local folder standing in for the project bucket, the execution input names them with
``s3://`` URIs like on AWS, and :class:`LocalModeRunner` maps them to ``file://`` for SDK local mode. The
Chainer run ends with the accuracy of the batch transform of ``test.npy``; the Keras run ends with a live local
endpoint answering a Japanese query, which is then deleted.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from byoc_pipelines import definitions as defs
from byoc_pipelines import endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.deploy import LAMBDA_SOURCE
from byoc_pipelines.local import LocalMode
from byoc_pipelines.local_runner import LocalModeRunner, S3Folder
from byoc_pipelines.sfn_local import Integrations, execute

logger = logging.getLogger(__name__)

JAPANESE_QUERY = {"q": "電波が悪い"}


@dataclass(frozen=True)
class LocalRun:
    definition: str
    image: str
    data: Path  # data/mnist for Chainer, datasets/knbc for Keras
    root: Path  # holds the stand-in bucket and local mode's folders
    train_size: int = 2000
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    execution_name: str = ""
    config: PipelineConfig = field(default_factory=PipelineConfig)


def _load_lambda(source: Path = LAMBDA_SOURCE) -> ModuleType:
    spec = importlib.util.spec_from_file_location("byoc_create_model_lambda", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _RunnerAsClient:
    """The bit of a boto3 SageMaker client the Lambda function uses, backed by a runner."""

    def __init__(self, runner: LocalModeRunner) -> None:
        self.runner = runner

    def create_model(self, **request: Any) -> dict[str, Any]:
        return self.runner.call("CreateModel", request)


def _stage_mnist(s3: S3Folder, data: Path, execution_input: dict[str, Any], train_size: int) -> None:
    import numpy as np

    for channel, size in (("train", train_size), ("valid", max(train_size // 5, 100))):
        with np.load(data / channel / f"{channel}.npz") as npz:
            buffer = io.BytesIO()
            np.savez(buffer, images=npz["images"][:size], labels=npz["labels"][:size])
        s3.put_bytes(buffer.getvalue(), execution_input["inputs"][channel] + f"{channel}.npz")
    s3.put(data / "transform" / "test.npy", execution_input["inputs"]["transform"])


def _stage_knbc(s3: S3Folder, data: Path, execution_input: dict[str, Any], train_size: int) -> None:
    for channel, split, size in (("train", "train", train_size), ("test", "test", max(train_size // 5, 50))):
        for name in ("features.csv", "labels.csv"):
            lines = (data / split / name).read_bytes().splitlines(keepends=True)
            s3.put_bytes(b"".join(lines[: size + 1]), execution_input["inputs"][channel] + name)


def chainer_accuracy(s3: S3Folder, output: Mapping[str, Any], labels_file: Path) -> float:
    """Share of ``test.npy.out`` lines equal to ``test_labels.npy``."""
    import numpy as np

    out = s3.path(output["transform"]["S3OutputPath"].rstrip("/") + "/test.npy.out")
    predicted = np.array([int(x) for x in out.read_text().split()])
    labels = np.load(labels_file)
    if predicted.shape != labels.shape:
        raise ValueError(f"{out} has {predicted.shape[0]} labels, expected {labels.shape[0]}")
    return float(np.mean(predicted == labels))


def run(spec: LocalRun, emit: Callable[[str], None]) -> dict[str, Any]:
    """Stage data, execute the definition with real containers, then check the result; returns a summary."""
    name = spec.execution_name or time.strftime("local-%Y%m%d-%H%M%S")
    config = replace(spec.config, endpoint_wait_seconds=1)
    definition = defs.build(spec.definition, config)
    execution_input = defs.sample_input(spec.definition, config, image=spec.image)
    execution_input["hyperparameters"] = {**execution_input["hyperparameters"], **spec.hyperparameters}
    for key, uri in execution_input["outputs"].items():  # a folder per execution, as `run` does on AWS
        execution_input["outputs"][key] = f"{uri}{name}/"
    s3 = S3Folder(spec.root / "s3")
    mnist = defs.IMAGE_OF[spec.definition] == "chainer-mnist"
    (_stage_mnist if mnist else _stage_knbc)(s3, spec.data, execution_input, spec.train_size)
    emit(f"execution {name}: input {json.dumps(execution_input, ensure_ascii=False)}")
    started = time.monotonic()
    with LocalMode(spec.root / "local-mode", region=config.region) as local_mode:
        runner = LocalModeRunner(local_mode, s3, config.account_id)
        handler = _load_lambda()
        functions = {config.create_model_function: lambda event: handler.create_model(_RunnerAsClient(runner), event)}
        described, _ = execute(
            definition, execution_input, Integrations(runner, functions), name=name, emit=emit, region=config.region
        )
        output = executions.outcome(described)
        summary: dict[str, Any] = {"status": described["status"], "seconds": round(time.monotonic() - started, 1)}
        if mnist:
            summary["accuracy"] = chainer_accuracy(s3, output, spec.data / "test_labels.npy")
            emit(f"batch transform {output['transform']['S3OutputPath']}: accuracy {summary['accuracy']:.4f}")
        else:
            endpoint_name = output["names"]["endpoint"]
            try:
                answer = endpoint.invoke(local_mode.sagemaker_runtime_client, endpoint_name, JAPANESE_QUERY)
                summary["answer"] = answer
                emit(
                    f"endpoint {endpoint_name} answers {json.dumps(JAPANESE_QUERY, ensure_ascii=False)}: "
                    f"{json.dumps(answer[:3], ensure_ascii=False)}"
                )
            finally:
                local_mode.sagemaker_client.delete_endpoint(EndpointName=endpoint_name)
                emit(f"endpoint {endpoint_name} deleted")
    summary["output"] = output
    return summary
