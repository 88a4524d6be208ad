"""``make demo``: the main job on one machine with no AWS account, through SageMaker local mode.

1. chainer-mnist: a training job on the tutorial's MNIST channels, a model from its artifact, and a batch
   transform of ``test.npy``, scored against the held-out labels;
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

import numpy as np

from byoc_pipelines import requests as sm
from byoc_pipelines.local import LocalMode

logger = logging.getLogger("demo")
QUERIES = ("電波が悪い", "このラーメンは美味しい", "清水寺の紅葉がきれいだった", "昨日の試合でゴールを決めた")


def step(message: str) -> None:
    logger.info(">> %s", message)


def chainer_mnist(lm: LocalMode, image: str, data: Path, run: Path, epochs: int) -> float:
    channels = {name: f"file://{(data / name).resolve()}" for name in ("train", "valid", "test")}
    step(f"chainer-mnist: training job, {epochs} epochs over 60,000 images (the tutorial runs 20; --chainer-epochs)")
    lm.call(
        "CreateTrainingJob",
        sm.training_job("demo-mnist-train", image, channels, f"file://{run}/mnist/output", {"epochs": epochs}),
    )
    job = lm.describe_training_job("demo-mnist-train")
    if job["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"training failed: {job.get('FailureReason')}")
    step("chainer-mnist: create model from " + job["ModelArtifacts"]["S3ModelArtifacts"])
    lm.call("CreateModel", sm.model("demo-mnist-model", image, job["ModelArtifacts"]["S3ModelArtifacts"]))
    step("chainer-mnist: batch transform of test.npy (1,000 images)")
    lm.call(
        "CreateTransformJob",
        sm.transform_job(
            "demo-mnist-transform",
            "demo-mnist-model",
            f"file://{(data / 'transform').resolve()}",
            f"file://{run}/mnist/transform",
            content_type="application/x-npy",
            split_type="None",
        ),
    )
    predicted = np.array([int(x) for x in (run / "mnist/transform/test.npy.out").read_text().split()])
    accuracy = float(np.mean(predicted == np.load(data / "test_labels.npy")))
    step(f"chainer-mnist: batch transform accuracy on the held-out images: {accuracy:.4f}")
    return accuracy


def keras_text(lm: LocalMode, image: str, knbc: Path, run: Path, epochs: int) -> list[tuple[str, list[dict]]]:
    channels = {name: f"file://{(knbc / name).resolve()}" for name in ("train", "test")}
    step(f"keras-text: training job on the KNB corpus (3,767 sentences), up to {epochs} epochs with early stopping")
    lm.call(
        "CreateTrainingJob",
        sm.training_job("demo-knbc-train", image, channels, f"file://{run}/knbc/output", {"epochs": epochs}),
    )
    job = lm.describe_training_job("demo-knbc-train")
    if job["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"training failed: {job.get('FailureReason')}")
    lm.call("CreateModel", sm.model("demo-knbc-model", image, job["ModelArtifacts"]["S3ModelArtifacts"]))
    lm.call("CreateEndpointConfig", sm.endpoint_config("demo-knbc-config", "demo-knbc-model"))
    step("keras-text: deploying a local endpoint")
    lm.call("CreateEndpoint", {"EndpointName": "demo-knbc", "EndpointConfigName": "demo-knbc-config"})
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
    with LocalMode(run / "local-mode-root") as lm:
        accuracy = chainer_mnist(lm, args.chainer_image, args.mnist, run, args.chainer_epochs)
        answers = keras_text(lm, args.keras_image, args.knbc, run, args.keras_epochs)
    summary = {"mnist_transform_accuracy": accuracy, "knbc_answers": answers}
    (run / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    step(f"done in {time.monotonic() - started:.0f} s; containers and the local network removed. Artifacts:")
    for path in (
        "mnist/output/model.tar.gz",
        "mnist/output/output.tar.gz (metrics, training curves)",
        "mnist/transform/test.npy.out",
        "knbc/output/model.tar.gz",
        "knbc/output/output.tar.gz (metrics, confusion matrix, curves)",
        "summary.json",
    ):
        logger.info("   %s/%s", args.run_dir, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
