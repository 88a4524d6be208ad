"""``pipeline-local``: a rendered definition executed on moto's interpreter with real containers behind its tasks.

Data are staged into a local folder standing in for the project bucket, the execution input names them with
``s3://`` URIs like on AWS, and :class:`LocalModeRunner` maps them to ``file://`` for SDK local mode. The
Chainer run ends with the accuracy of the batch transform of ``test.npy``; the Keras run ends with a live local
endpoint answering a Japanese query, which is then deleted.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from byoc_pipelines import functions
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.aws import endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.local.stepfunctions import Integrations, execute
from byoc_pipelines.logs import Progress, shown

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

    @property
    def stage(self) -> str:
        """The name progress lines carry: the image the definition trains."""
        return defs.IMAGE_OF[self.definition]


@dataclass(frozen=True)
class LocalOutcome:
    status: str
    seconds: float
    output: dict[str, Any]  # the execution's output, in s3:// terms
    s3: S3Folder  # where those s3:// URIs are on this machine
    accuracy: float | None = None  # Chainer: batch transform of test.npy against the held-out labels
    answer: list[dict[str, Any]] | None = None  # Keras: the endpoint's ranked labels for JAPANESE_QUERY

    def model_tarball(self) -> Path:
        return self.s3.path(self.output["training"]["ModelArtifacts"])


def _stage_mnist(s3: S3Folder, data: Path, inputs: Mapping[str, str], train_size: int) -> None:
    for channel, size in (("train", train_size), ("valid", max(train_size // 5, 100))):
        with np.load(data / channel / f"{channel}.npz") as npz:
            buffer = io.BytesIO()
            np.savez(buffer, images=npz["images"][:size], labels=npz["labels"][:size])
        s3.put_bytes(buffer.getvalue(), inputs[channel] + f"{channel}.npz")
    s3.put(data / "transform" / "test.npy", inputs["transform"])


def _stage_knbc(s3: S3Folder, data: Path, inputs: Mapping[str, str], train_size: int) -> None:
    for channel, split, size in (("train", "train", train_size), ("test", "test", max(train_size // 5, 50))):
        for name in ("features.csv", "labels.csv"):
            lines = (data / split / name).read_bytes().splitlines(keepends=True)
            s3.put_bytes(b"".join(lines[: size + 1]), inputs[channel] + name)


def chainer_accuracy(s3: S3Folder, output: Mapping[str, Any], labels_file: Path) -> float:
    """Share of ``test.npy.out`` lines equal to ``test_labels.npy``."""
    out = s3.path(output["transform"]["S3OutputPath"].rstrip("/") + "/test.npy.out")
    predicted = np.array([int(x) for x in out.read_text().split()])
    labels = np.load(labels_file)
    if predicted.shape != labels.shape:
        raise ValueError(f"{out} has {predicted.shape[0]} labels, expected {labels.shape[0]}")
    return float(np.mean(predicted == labels))


def execution_input(spec: LocalRun, config: PipelineConfig, name: str) -> dict[str, Any]:
    """The definition's sample input with the run's image and hyperparameters, outputs in a folder per execution."""
    built = defs.sample_input(spec.definition, config, image=spec.image)
    built["hyperparameters"] = {**built["hyperparameters"], **spec.hyperparameters}
    built["outputs"] = {key: f"{uri}{name}/" for key, uri in built["outputs"].items()}  # as `run` does on AWS
    return built


def _ask_endpoint(local_mode: LocalMode, output: Mapping[str, Any], progress: Progress, stage: str) -> Any:
    endpoint_name = output["names"]["endpoint"]
    try:
        answer = endpoint.invoke(local_mode.sagemaker_runtime_client, endpoint_name, JAPANESE_QUERY)
        query, top = json.dumps(JAPANESE_QUERY, ensure_ascii=False), json.dumps(answer[:3], ensure_ascii=False)
        progress.step(stage, f"endpoint {endpoint_name} answers {query}: {top}")
    finally:
        local_mode.sagemaker_client.delete_endpoint(EndpointName=endpoint_name)
        progress.step(stage, f"endpoint {endpoint_name} deleted")
    return answer


def run(spec: LocalRun, progress: Progress) -> LocalOutcome:
    """Stage data, execute the definition with real containers, then check the result."""
    name = spec.execution_name or time.strftime("local-%Y%m%d-%H%M%S")
    config = replace(spec.config, endpoint_wait_seconds=1)
    definition = defs.build(spec.definition, config)
    given = execution_input(spec, config, name)
    s3 = S3Folder(spec.root / "s3")
    mnist = spec.stage == "chainer-mnist"
    (_stage_mnist if mnist else _stage_knbc)(s3, spec.data, given["inputs"], spec.train_size)
    progress.step(spec.stage, f"{spec.train_size:,} training examples staged in {shown(s3.path(config.s3_uri('')))}")
    logger.info("execution %s: input %s", name, json.dumps(given, ensure_ascii=False))
    progress.step(spec.stage, f"execution {name} of {spec.definition} on moto's Step Functions engine:")
    started = time.monotonic()
    with LocalMode(spec.root / "local-mode", region=config.region) as local_mode:
        runner = LocalModeRunner(local_mode, s3, config.account_id)
        integrations = Integrations(runner, functions.in_process(config, runner))
        described, _ = execute(definition, given, integrations, name=name, emit=progress.detail, region=config.region)
        output = executions.outcome(described)
        seconds = round(time.monotonic() - started, 1)
        progress.step(spec.stage, f"execution {described['status']} in {seconds} s")
        if mnist:
            accuracy = chainer_accuracy(s3, output, spec.data / "test_labels.npy")
            progress.step(spec.stage, f"batch transform of test.npy: accuracy {accuracy:.4f}")
            return LocalOutcome(described["status"], seconds, output, s3, accuracy=accuracy)
        answer = _ask_endpoint(local_mode, output, progress, spec.stage)
    return LocalOutcome(described["status"], seconds, output, s3, answer=answer)
