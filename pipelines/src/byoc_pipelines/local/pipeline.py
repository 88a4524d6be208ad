"""``make pipeline/local``: a rendered definition executed on moto's interpreter with real containers behind its tasks.

Data (and, in script mode, the code folder as ``sourcedir.tar.gz`` under the run's ``code/`` prefix) are staged
into a local folder standing in for the project bucket, the execution input names them with ``s3://`` URIs like
on AWS, and :class:`LocalModeRunner` maps them to ``file://`` for SDK local mode. What is staged and checked comes
from the image's descriptor (:mod:`byoc_pipelines.local.staging`): a batch-transform run ends with the accuracy of
the transform against the descriptor's labels (Chainer: ``test.npy``); an endpoint run ends with a live local
endpoint answering the descriptor's first sample request (Keras: a Japanese query), which is then deleted. A
:class:`Scenario` adds mocked states, faults in the real containers,
managed spot training and compressed retry waits; the console then shows retries, catches and mocked states.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from byoc_pipelines import functions
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.descriptor import Descriptor
from byoc_pipelines.errors import one_line
from byoc_pipelines.history import HistoryView
from byoc_pipelines.local import staging
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.scenario import Scenario
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.local.stepfunctions import Integrations, execute
from byoc_pipelines.logs import Progress, shown
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball

logger = logging.getLogger(__name__)

# Between DescribeEndpoint polls: the definition's 30 polls then cover the 4 minutes a container has to pass
# /ping (local endpoints, as AWS, come up in the background; a loaded machine starts keras-text slowly).
LOCAL_ENDPOINT_WAIT_S = 8


@dataclass(frozen=True)
class LocalRun:
    definition: str
    image: str
    data: Path  # a folder per channel (data/mnist for Chainer, datasets/knbc for Keras): local/staging.py
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
        return self.image_descriptor.name

    @property
    def image_descriptor(self) -> Descriptor:
        """The descriptor of the image the definition trains: its channels, its outcome, its sample requests."""
        return defs.find(self.definition).image


@dataclass(frozen=True)
class LocalOutcome:
    status: str
    seconds: float
    output: dict[str, Any]  # the execution's output, in s3:// terms
    s3: S3Folder  # where those s3:// URIs are on this machine
    accuracy: float | None = None  # batch transform (Chainer: test.npy) against the descriptor's labels
    answer: Any = None  # endpoint: the answer to the descriptor's first sample request (Keras: ranked labels)
    answer_error: str = ""  # ... or the error InvokeEndpoint answered with (a model answering 5xx: ModelError)
    error: str = ""  # a failed execution's error and cause
    cause: str = ""
    jobs: dict[str, str] = field(default_factory=dict)  # training job -> how it ended (TrainingJobs.summary)
    transform_outputs: list[Path] = field(default_factory=list)  # batch transform: <input file>.out files

    def model_tarball(self) -> Path:
        return self.s3.path(self.output["training"]["ModelArtifacts"])


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


def _ask_endpoint(runner: LocalModeRunner, outcome: LocalOutcome, progress: Progress, spec: LocalRun) -> LocalOutcome:
    """The descriptor's first sample request to the live endpoint (then deleted): the run's proof of service."""
    endpoint_name, request, stage = outcome.output["names"]["endpoint"], spec.image_descriptor.requests[0], spec.stage
    query = request.body.decode("utf-8", errors="replace")[:200]
    try:
        client, accept = runner.local_mode.sagemaker_runtime_client, request.accept or "application/json"
        answer = endpoint.invoke(client, endpoint_name, request.body, request.content_type, accept)
        shown_answer = json.dumps(answer[:3] if isinstance(answer, list) else answer, ensure_ascii=False, default=str)
        progress.step(stage, f"endpoint {endpoint_name} answers {query}: {shown_answer[:300]}")
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
    staging.stage(s3, spec.data, given, spec.train_size, spec.image_descriptor)
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
    """A transform's accuracy, or the endpoint's answer, as the image's descriptor says (unless the state was
    mocked)."""
    mocked = spec.scenario.mocked
    if spec.image_descriptor.outcome == "batch-transform":
        if "Batch Transform" in mocked:
            return outcome
        return _score_transform(spec, outcome, progress)
    if "Create Endpoint" in mocked:
        return outcome
    return _ask_endpoint(runner, outcome, progress, spec)


def _score_transform(spec: LocalRun, outcome: LocalOutcome, progress: Progress) -> LocalOutcome:
    """The transform's outputs, scored against the descriptor's labels when it names them."""
    batch = spec.image_descriptor.batch
    outputs = staging.transform_outputs(outcome.s3, outcome.output, spec.data, batch)
    accuracy = staging.accuracy(outputs, spec.data / batch.labels.name) if batch.labels else None
    if accuracy is not None:
        names = ", ".join(path.name.removesuffix(".out") for path in outputs)
        progress.step(spec.stage, f"batch transform of {names}: accuracy {accuracy:.4f}")
    return replace(outcome, accuracy=accuracy, transform_outputs=outputs)
