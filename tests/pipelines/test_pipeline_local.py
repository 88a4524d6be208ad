"""The rendered definitions executed on moto's interpreter, the SageMaker tasks running our real images."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines import executions, pipeline_local

pytestmark = pytest.mark.container

KNBC_DIR = Path(__file__).resolve().parents[2] / "datasets" / "knbc"


def test_chainer_batch_definition_trains_creates_model_via_lambda_and_transforms(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    spec = pipeline_local.LocalRun(
        "chainer-mnist-batch-lambda",
        chainer_mnist_image,
        mnist_dir,
        tmp_path,
        train_size=2000,
        hyperparameters={"epochs": "1", "units": "50"},
        execution_name="chainer-test",
    )
    summary = pipeline_local.run(spec, lines.append)
    assert summary["status"] == "SUCCEEDED"
    assert summary["accuracy"] > 0.5  # 2,000 images, one epoch
    output = summary["output"]
    # The artifact path came from the training result and has AWS's layout, in s3:// terms.
    assert output["training"]["ModelArtifacts"] == (
        "s3://byoc-sagemaker-data/models/chainer-mnist/chainer-test/byoc-chainer-test-train/output/model.tar.gz"
    )
    assert (tmp_path / "s3" / output["training"]["ModelArtifacts"].removeprefix("s3://")).stat().st_size > 0
    entered = [line.split("name=")[1] for line in lines if "StateEntered" in line]
    assert entered == ["Name Resources", "Train Model", "Create Model", "Batch Transform"]
    assert any("TaskScheduled resource=invoke" in line for line in lines)


def test_keras_endpoint_definition_ends_with_a_live_endpoint(keras_text_image: str, tmp_path: Path) -> None:
    lines: list[str] = []
    spec = pipeline_local.LocalRun(
        "keras-text-endpoint",
        keras_text_image,
        KNBC_DIR,
        tmp_path,
        train_size=1500,
        hyperparameters={"epochs": "1"},
        execution_name="keras-test",
    )
    summary = pipeline_local.run(spec, lines.append)
    assert summary["status"] == "SUCCEEDED"
    ranked = summary["answer"]
    assert len(ranked) >= 2 and {"label", "prob"} <= set(ranked[0])
    assert [r["prob"] for r in ranked] == sorted((r["prob"] for r in ranked), reverse=True)
    assert abs(sum(r["prob"] for r in ranked) - 1) < 0.01
    assert lines[-1] == "endpoint byoc-keras-test-endpoint deleted"
    assert "Describe Endpoint" in [line.split("name=")[1] for line in lines if "StateEntered" in line]
    assert executions.outcome({"status": "SUCCEEDED", "output": "{}"}) == {}
