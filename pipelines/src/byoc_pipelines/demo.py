"""``make demo``: the main job on one machine with no AWS account, through SageMaker local mode.

1. chainer-mnist: the tutorial's Step Functions workflow, the very definition deployed to AWS, executed on
   moto's Step Functions engine with real containers: a training job on the MNIST channels, a model from its
   artifact, and a batch transform of ``test.npy``, scored against the held-out labels;
2. keras-text: a training job on the KNB corpus, a real-time endpoint answering Japanese sentences;
then everything is torn down and the artifacts' folders are listed.

    python -m byoc_pipelines.demo --chainer-image byoc/chainer-mnist:latest --keras-image byoc/keras-text:latest
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from byoc_pipelines import pipeline_local
from byoc_pipelines import requests as sm
from byoc_pipelines.local import LocalMode

logger = logging.getLogger("demo")
CHAINER_DEFINITION = "chainer-mnist-batch"
QUERIES = ("電波が悪い", "このラーメンは美味しい", "清水寺の紅葉がきれいだった", "昨日の試合でゴールを決めた")


def step(message: str) -> None:
    logger.info(">> %s", message)


def train_and_create_model(
    lm: LocalMode, prefix: str, image: str, channels: dict[str, Path], run: Path, epochs: int
) -> str:
    """A training job, then a model from its artifact; returns the model name. Stops the demo on failure."""
    uris = {name: f"file://{path.resolve()}" for name, path in channels.items()}
    job_name = f"{prefix}-train"
    request = sm.training_job(job_name, image, uris, f"file://{run}/{prefix}/output", {"epochs": epochs})
    lm.call("CreateTrainingJob", request)
    job = lm.describe_training_job(job_name)
    if job["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"{job_name} failed: {job.get('FailureReason')}")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    step(f"{prefix}: model from {artifact}")
    lm.call("CreateModel", sm.model(f"{prefix}-model", image, artifact))
    return f"{prefix}-model"


def chainer_mnist(image: str, data: Path, run: Path, epochs: int) -> float:
    step(
        f"chainer-mnist: Step Functions workflow {CHAINER_DEFINITION} (train -> create model -> batch transform), "
        f"{epochs} epochs over 60,000 images (the tutorial runs 20; --chainer-epochs)"
    )
    spec = pipeline_local.LocalRun(
        CHAINER_DEFINITION,
        image,
        data,
        run / "mnist",
        train_size=60000,
        hyperparameters={"epochs": str(epochs), "units": "1000"},  # the tutorial's MLP(1000, 10)
        execution_name="demo-mnist",
    )
    summary = pipeline_local.run(spec, lambda line: step(f"chainer-mnist: {line}"))
    if summary["status"] != "SUCCEEDED":
        raise SystemExit(f"the workflow ended {summary['status']}: {json.dumps(summary['output'])[:1000]}")
    accuracy: float = summary["accuracy"]
    return accuracy


def keras_text(lm: LocalMode, image: str, knbc: Path, run: Path, epochs: int) -> list[tuple[str, list[dict]]]:
    step(f"keras-text: training job on the KNB corpus (3,767 sentences), up to {epochs} epochs with early stopping")
    model = train_and_create_model(lm, "knbc", image, {name: knbc / name for name in ("train", "test")}, run, epochs)
    lm.call("CreateEndpointConfig", sm.endpoint_config("knbc-config", model))
    step("keras-text: deploying a local endpoint")
    lm.call("CreateEndpoint", {"EndpointName": "demo-knbc", "EndpointConfigName": "knbc-config"})
    lm.wait_for_endpoint("demo-knbc")
    answers = []
    for query in QUERIES:
        response = lm.sagemaker_runtime_client.invoke_endpoint(
            EndpointName="demo-knbc", Body=json.dumps({"q": query}).encode(), ContentType="application/json"
        )
        ranked = json.loads(response["Body"].read())
        answers.append((query, ranked))
        top = ", ".join(f"{a['label']} {a['prob']:.3f}" for a in ranked[:2])
        step(f"keras-text: {query} -> {top}")
    step("keras-text: deleting the endpoint")
    lm.sagemaker_client.delete_endpoint(EndpointName="demo-knbc")
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chainer-image", default="byoc/chainer-mnist:latest")
    parser.add_argument("--keras-image", default="byoc/keras-text:latest")
    parser.add_argument("--mnist", type=Path, default=Path("data/mnist"))
    parser.add_argument("--knbc", type=Path, default=Path("datasets/knbc"))
    parser.add_argument("--run-dir", type=Path, default=Path("build/demo"))
    parser.add_argument("--chainer-epochs", type=int, default=3)
    parser.add_argument("--keras-epochs", type=int, default=30)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("sagemaker", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    run = args.run_dir.resolve()
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    started = time.monotonic()
    accuracy = chainer_mnist(args.chainer_image, args.mnist, run, args.chainer_epochs)
    with LocalMode(run / "local-mode-root") as lm:
        answers = keras_text(lm, args.keras_image, args.knbc, run, args.keras_epochs)
    summary = {"mnist_transform_accuracy": accuracy, "knbc_answers": answers}
    (run / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    step(f"done in {time.monotonic() - started:.0f} s; containers and the local network removed. Artifacts:")
    for path in sorted((run / "mnist" / "s3").rglob("*")):  # the local stand-in of the project bucket
        if path.name.endswith((".tar.gz", ".out")):
            logger.info("   %s", path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    for path in (
        "knbc/output/model.tar.gz",
        "knbc/output/output.tar.gz (metrics, confusion matrix, curves)",
        "summary.json",
    ):
        logger.info("   %s/%s", args.run_dir, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
