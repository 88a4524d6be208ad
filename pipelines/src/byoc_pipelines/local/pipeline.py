"""``make pipeline/local``: a rendered definition executed on moto's interpreter with real containers behind its tasks.

Data (and, in script mode, the code folder as ``sourcedir.tar.gz`` under the run's ``code/`` prefix) are staged
into a local folder standing in for the project bucket, the execution input names them with ``s3://`` URIs like
on AWS, and :class:`LocalModeRunner` maps them to ``file://`` for SDK local mode. The Chainer run ends with the
accuracy of the batch transform of ``test.npy``; the Keras run ends with a live local endpoint answering a
Japanese query, which is then deleted. A :class:`Scenario` adds mocked states, faults in the real containers,
managed spot training and compressed retry waits; the console then shows retries, catches and mocked states.
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
from botocore.exceptions import ClientError

from byoc_pipelines import functions
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import one_line
from byoc_pipelines.history import HistoryView
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.scenario import Scenario
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.local.stepfunctions import Integrations, execute
from byoc_pipelines.logs import Progress, shown
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball

logger = logging.getLogger(__name__)

JAPANESE_QUERY = {"q": "電波が悪い"}
# Between DescribeEndpoint polls: the definition's 30 polls then cover the 4 minutes a container has to pass
# /ping (local endpoints, as AWS, come up in the background; a loaded machine starts keras-text slowly).
LOCAL_ENDPOINT_WAIT_S = 8


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
    instance_count: int = 1
    source_dir: Path | None = None  # script mode: the folder packed as sourcedir.tar.gz ...
    program: str = ""  # ... and the script in it to train with and serve
    scenario: Scenario = field(default_factory=Scenario)

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
    answer_error: str = ""  # ... or the error InvokeEndpoint answered with (a model answering 5xx: ModelError)
    error: str = ""  # a failed execution's error and cause
    cause: str = ""
    jobs: dict[str, str] = field(default_factory=dict)  # training job -> how it ended (TrainingJobs.summary)

    def model_tarball(self) -> Path:
        return self.s3.path(self.output["training"]["ModelArtifacts"])


def _channel_uris(given: Mapping[str, Any]) -> dict[str, str]:
    return {channel["name"]: channel["uri"] for channel in given["channels"]}


def _stage_mnist(s3: S3Folder, data: Path, given: Mapping[str, Any], train_size: int) -> None:
    uris = _channel_uris(given)
    for channel, size in (("train", train_size), ("valid", max(train_size // 5, 100)), ("test", train_size)):
        with np.load(data / channel / f"{channel}.npz") as npz:
            buffer = io.BytesIO()
            np.savez(buffer, images=npz["images"][:size], labels=npz["labels"][:size])
        s3.put_bytes(buffer.getvalue(), uris[channel] + f"{channel}.npz")
    s3.put(data / "transform" / "test.npy", given["transform_input"])


def _stage_knbc(s3: S3Folder, data: Path, given: Mapping[str, Any], train_size: int) -> None:
    uris = _channel_uris(given)
    for channel, size in (("train", train_size), ("test", max(train_size // 5, 50))):
        for name in ("features.csv", "labels.csv"):
            lines = (data / channel / name).read_bytes().splitlines(keepends=True)
            s3.put_bytes(b"".join(lines[: size + 1]), uris[channel] + name)


def chainer_accuracy(s3: S3Folder, output: Mapping[str, Any], labels_file: Path) -> float:
    """Share of ``test.npy.out`` lines equal to ``test_labels.npy``."""
    out = s3.path(output["transform"]["S3OutputPath"].rstrip("/") + "/test.npy.out")
    predicted = np.array([int(x) for x in out.read_text().split()])
    labels = np.load(labels_file)
    if predicted.shape != labels.shape:
        raise ValueError(f"{out} has {predicted.shape[0]} labels, expected {labels.shape[0]}")
    return float(np.mean(predicted == labels))


def script(spec: LocalRun, config: PipelineConfig, name: str) -> Script | None:
    """Script mode's program and the run's code location, when the run has a source folder."""
    if spec.source_dir is None:
        return None
    return Script(spec.program, inputs.code_uri(config, spec.definition, name))


def execution_input(spec: LocalRun, config: PipelineConfig, name: str) -> dict[str, Any]:
    """The input `run` sends on AWS, with the run's image, hyperparameters, hosts and script; outputs per run."""
    return inputs.execution_input(
        spec.definition,
        config,
        spec.image,
        run=name,
        script=script(spec, config, name),
        instance_count=spec.instance_count,
        hyperparameters=spec.hyperparameters,
        spot=spec.scenario.spot,
    )


def invoke_error(exc: ClientError) -> str:
    """InvokeEndpoint's error as one line: code, HTTP status, and a model's own status (a ModelError's)."""
    response: Mapping[str, Any] = exc.response
    error, status = response.get("Error", {}), response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    original = f", OriginalStatusCode {response['OriginalStatusCode']}" if "OriginalStatusCode" in response else ""
    return f"{error.get('Code', 'Error')} ({status}{original}): {one_line(error.get('Message', ''))}"


def _ask_endpoint(runner: LocalModeRunner, outcome: LocalOutcome, progress: Progress, stage: str) -> LocalOutcome:
    endpoint_name = outcome.output["names"]["endpoint"]
    query = json.dumps(JAPANESE_QUERY, ensure_ascii=False)
    try:
        answer = endpoint.invoke(runner.local_mode.sagemaker_runtime_client, endpoint_name, JAPANESE_QUERY)
        progress.step(stage, f"endpoint {endpoint_name} answers {query}: {json.dumps(answer[:3], ensure_ascii=False)}")
        return replace(outcome, answer=answer)
    except ClientError as exc:  # what a client of the endpoint gets, e.g. a model answering 500: ModelError (424)
        error = invoke_error(exc)
        progress.step(stage, f"endpoint {endpoint_name} answers {query} with {error}")
        return replace(outcome, answer_error=error)
    finally:
        runner.call("DeleteEndpoint", {"EndpointName": endpoint_name})
        progress.step(stage, f"endpoint {endpoint_name} deleted")


def _stage(spec: LocalRun, config: PipelineConfig, given: Mapping[str, Any], name: str, progress: Progress) -> S3Folder:
    """The data (and in script mode the code) in the stand-in bucket, where the input's s3:// URIs point."""
    s3 = S3Folder(spec.root / "s3")
    (_stage_mnist if spec.stage == "chainer-mnist" else _stage_knbc)(s3, spec.data, given, spec.train_size)
    progress.step(spec.stage, f"{spec.train_size:,} training examples staged in {shown(s3.path(config.s3_uri('')))}")
    code = script(spec, config, name)
    if spec.source_dir is not None and code is not None:
        s3.put_bytes(sourcedir_tarball(spec.source_dir), code.code_uri)
        hosts = f"{spec.instance_count} host{'s' if spec.instance_count > 1 else ''}"
        progress.step(spec.stage, f"script mode: {code.program} from {spec.source_dir} on {hosts}, as {code.code_uri}")
    return s3


def _settle(runner: LocalModeRunner, progress: Progress, stage: str) -> dict[str, str]:
    """Wait for every training job to end (a stopped one has its grace) and say how each ended."""
    runner.training.wait_all(runner.training.grace_s + 60)
    ended = {name: runner.training.summary(name) for name in runner.training.names()}
    for name, summary in ended.items():
        if summary != "Completed":  # a job that simply completed is in the history already
            progress.step(stage, f"training job {name}: {summary}")
    return ended


def run(spec: LocalRun, progress: Progress) -> LocalOutcome:
    """Stage data, execute the definition with real containers, then check the result.

    A failed or aborted execution is an outcome too (its error and cause), once its training jobs have ended.
    """
    name = spec.execution_name or time.strftime("local-%Y%m%d-%H%M%S")
    config = replace(spec.config, endpoint_wait_seconds=LOCAL_ENDPOINT_WAIT_S)
    definition = defs.build(spec.definition, config)
    given = execution_input(spec, config, name)
    s3 = _stage(spec, config, given, name, progress)
    logger.info("execution %s: input %s", name, json.dumps(given, ensure_ascii=False))
    progress.step(spec.stage, f"execution {name} of {spec.definition} on moto's Step Functions engine:")
    started, scenario = time.monotonic(), spec.scenario
    with LocalMode(spec.root / "local-mode", region=config.region) as local_mode:
        runner = LocalModeRunner(local_mode, s3, config.account_id)
        integrations = Integrations(runner, functions.in_process(config, runner), scenario.faults)
        view = HistoryView(definition, scenario.mocked)
        described, _ = execute(
            definition,
            given,
            integrations,
            name=name,
            emit=progress.detail,
            region=config.region,
            mocks=scenario.mocks,
            retry_wait_scale=scenario.retry_wait_scale,
            lines=view.lines,
        )
        jobs = _settle(runner, progress, spec.stage)
        seconds = round(time.monotonic() - started, 1)
        status = described["status"]
        progress.step(spec.stage, f"execution {status} in {seconds} s")
        if status != "SUCCEEDED":
            error, cause = described.get("error", ""), described.get("cause", "")
            return LocalOutcome(status, seconds, {}, s3, error=error, cause=cause, jobs=jobs)
        output = executions.outcome(described)
        return _result(spec, runner, LocalOutcome(status, seconds, output, s3, jobs=jobs), progress)


def _result(spec: LocalRun, runner: LocalModeRunner, outcome: LocalOutcome, progress: Progress) -> LocalOutcome:
    """The Chainer transform's accuracy, or the Keras endpoint's answer (unless the state was mocked)."""
    mocked = spec.scenario.mocked
    if spec.stage == "chainer-mnist":
        if "Batch Transform" in mocked:
            return outcome
        accuracy = chainer_accuracy(outcome.s3, outcome.output, spec.data / "test_labels.npy")
        progress.step(spec.stage, f"batch transform of test.npy: accuracy {accuracy:.4f}")
        return replace(outcome, accuracy=accuracy)
    if "Create Endpoint" in mocked:
        return outcome
    return _ask_endpoint(runner, outcome, progress, spec.stage)
