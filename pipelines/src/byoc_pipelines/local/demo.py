"""``make demo``: the main job on one machine with no AWS account, through SageMaker local mode.

1. chainer-mnist: the tutorial's Step Functions workflow, the very definition deployed to AWS, executed on
   moto's Step Functions engine with real containers: a training job on the MNIST channels, a model from its
   artifact, and a batch transform of ``test.npy``, scored against the held-out labels;
2. keras-text: a training job on the KNB corpus, a real-time endpoint answering Japanese sentences;
then everything is torn down and the artifacts, training-curve pictures and log files are listed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byoc_pipelines.aws import endpoint
from byoc_pipelines.errors import JobFailedError
from byoc_pipelines.local import artifacts, pipeline
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.logs import Progress, RunLogs, shown
from byoc_pipelines.sagemaker import requests as sm

CHAINER_DEFINITION = "chainer-mnist-batch"
KERAS = "keras-text"
QUERIES = ("電波が悪い", "このラーメンは美味しい", "清水寺の紅葉がきれいだった", "昨日の試合でゴールを決めた")


@dataclass(frozen=True)
class DemoOptions:
    chainer_image: str = "byoc/chainer-mnist:latest"
    keras_image: str = "byoc/keras-text:latest"
    mnist: Path = Path("data/mnist")
    knbc: Path = Path("datasets/knbc")
    run_dir: Path = Path("build/demo")
    chainer_epochs: int = 3
    keras_epochs: int = 30


@dataclass
class DemoResult:
    accuracy: float
    answers: list[tuple[str, list[dict[str, Any]]]]
    artifacts: list[Path]


def chainer_mnist(options: DemoOptions, run: Path, progress: Progress) -> tuple[float, list[Path]]:
    """The workflow on moto with real containers; returns the accuracy and the training artifacts."""
    progress.step(
        "chainer-mnist",
        f"Step Functions workflow {CHAINER_DEFINITION} (train -> create model -> batch transform), "
        f"{options.chainer_epochs} epochs over 60,000 images (the tutorial runs 20; --chainer-epochs)",
    )
    spec = pipeline.LocalRun(
        CHAINER_DEFINITION,
        options.chainer_image,
        options.mnist,
        run / "mnist",
        train_size=60000,
        hyperparameters={"epochs": str(options.chainer_epochs), "units": "1000"},  # the tutorial's MLP(1000, 10)
        execution_name="demo-mnist",
    )
    outcome = pipeline.run(spec, progress)
    if outcome.status != "SUCCEEDED":
        raise JobFailedError(f"the workflow ended {outcome.status}: {outcome.error} {outcome.cause[:300]}")
    found = artifacts.training_artifacts(outcome.model_tarball(), run / "pictures" / "chainer-mnist")
    if outcome.accuracy is None:
        raise JobFailedError("the batch transform gave no accuracy")
    return outcome.accuracy, [*found, *outcome.transform_outputs]


def _train_and_create_model(runner: LocalModeRunner, options: DemoOptions, run: Path, progress: Progress) -> Path:
    """A training job on the KNB channels, then model ``knbc-model`` from its artifact; returns the artifact."""
    channels = {name: f"file://{(options.knbc / name).resolve()}" for name in ("train", "test")}
    hyperparameters = {"epochs": options.keras_epochs}
    request = sm.training_job("knbc-train", options.keras_image, channels, f"file://{run}/knbc", hyperparameters)
    runner.call("CreateTrainingJob", request)
    job = runner.wait_for_training_job("knbc-train")
    if job["TrainingJobStatus"] != "Completed":
        raise JobFailedError(f"training job knbc-train failed: {job.get('FailureReason')}")
    artifact: str = job["ModelArtifacts"]["S3ModelArtifacts"]
    progress.step(KERAS, f"training job knbc-train Completed; model from {shown(Path(artifact[7:]))}")
    runner.call("CreateModel", sm.model("knbc-model", options.keras_image, artifact))
    return Path(artifact.removeprefix("file://"))


def _ask(lm: LocalMode, progress: Progress) -> list[tuple[str, list[dict[str, Any]]]]:
    answers = []
    for query in QUERIES:
        ranked: list[dict[str, Any]] = endpoint.invoke(lm.sagemaker_runtime_client, "demo-knbc", {"q": query})
        answers.append((query, ranked))
        progress.step(KERAS, f"{query} -> " + ", ".join(f"{a['label']} {a['prob']:.3f}" for a in ranked[:2]))
    return answers


def keras_text(options: DemoOptions, run: Path, progress: Progress) -> tuple[list[Any], list[Path]]:
    """Train on the KNB corpus, serve the model on a local endpoint, ask it Japanese sentences, delete it."""
    progress.step(
        KERAS, f"training job on the KNB corpus (3,767 sentences), up to {options.keras_epochs} epochs, early stopping"
    )
    with LocalMode(run / "local-mode-root") as lm:
        runner = LocalModeRunner(lm)
        artifact = _train_and_create_model(runner, options, run, progress)
        runner.call("CreateEndpointConfig", sm.endpoint_config("knbc-config", "knbc-model"))
        progress.step(KERAS, "deploying a local endpoint")
        runner.call("CreateEndpoint", {"EndpointName": "demo-knbc", "EndpointConfigName": "knbc-config"})
        status = lm.wait_for_endpoint("demo-knbc")["EndpointStatus"]
        if status != "InService":
            raise JobFailedError(f"endpoint demo-knbc is {status}, not InService")
        progress.step(KERAS, "endpoint demo-knbc InService")
        answers = _ask(lm, progress)
        runner.call("DeleteEndpoint", {"EndpointName": "demo-knbc"})
        progress.step(KERAS, "endpoint demo-knbc deleted")
    return answers, artifacts.training_artifacts(artifact, run / "pictures" / KERAS)


def run(options: DemoOptions, progress: Progress, logs: RunLogs) -> DemoResult:
    """Both stages, each with its container and SDK output in its own log file; writes ``summary.json``."""
    run_dir = options.run_dir.resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    with logs.to("chainer-mnist"):
        accuracy, chainer_files = chainer_mnist(options, run_dir, progress)
    with logs.to(KERAS):
        answers, keras_files = keras_text(options, run_dir, progress)
    summary = {"mnist_transform_accuracy": accuracy, "knbc_answers": answers}
    (run_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return DemoResult(accuracy, answers, [*chainer_files, *keras_files, run_dir / "summary.json"])


def report(result: DemoResult, progress: Progress, logs: RunLogs) -> None:
    """The final summary: accuracy, artifacts, pictures, the workflow picture and where the logs are."""
    progress.step("demo", f"done in {progress.elapsed_s:.0f} s; containers and the local network removed")
    progress.detail(f"chainer-mnist batch transform accuracy: {result.accuracy:.4f}")
    progress.detail("artifacts:")
    for path in result.artifacts:
        progress.detail(f"  {shown(path)}")
    picture = artifacts.workflow_picture(CHAINER_DEFINITION)
    if picture is not None:
        progress.detail(f"workflow picture: {shown(picture)}")
    if logs.files:
        progress.detail("container and SDK logs: " + ", ".join(shown(path) for path in logs.files))
