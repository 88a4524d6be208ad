"""The rendered definitions executed on moto's interpreter, the SageMaker tasks running our real images."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines.local import pipeline
from byoc_pipelines.logs import Progress
from utils.fixture_data import KNBC_DIR

pytestmark = pytest.mark.container


def test_chainer_batch_definition_trains_creates_model_via_lambda_and_transforms(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    console = io.StringIO()
    spec = pipeline.LocalRun(
        "chainer-mnist-batch-lambda",
        chainer_mnist_image,
        mnist_dir,
        tmp_path,
        train_size=2000,
        hyperparameters={"epochs": "1", "units": "50"},
        execution_name="chainer-test",
    )
    outcome = pipeline.run(spec, Progress(console))
    assert outcome.status == "SUCCEEDED"
    assert outcome.accuracy is not None and outcome.accuracy > 0.5  # 2,000 images, one epoch
    # The artifact path came from the training result and has AWS's layout, in s3:// terms.
    assert outcome.output["training"]["ModelArtifacts"] == (
        "s3://byoc-sagemaker-data/models/chainer-mnist/chainer-test/byoc-chainer-test-train/output/model.tar.gz"
    )
    assert outcome.model_tarball().stat().st_size > 0
    entered = re.findall(r"StateEntered name=(.+)", console.getvalue())
    assert entered == ["Name Resources", "Train Model", "Create Model", "Batch Transform"]
    assert "TaskScheduled resource=invoke" in console.getvalue()


def test_keras_endpoint_definition_ends_with_a_live_endpoint(keras_text_image: str, tmp_path: Path) -> None:
    console = io.StringIO()
    spec = pipeline.LocalRun(
        "keras-text-endpoint",
        keras_text_image,
        KNBC_DIR,
        tmp_path,
        train_size=1500,
        hyperparameters={"epochs": "1"},
        execution_name="keras-test",
    )
    outcome = pipeline.run(spec, Progress(console))
    assert outcome.status == "SUCCEEDED"
    ranked = outcome.answer
    assert ranked is not None and len(ranked) >= 2 and {"label", "prob"} <= set(ranked[0])
    assert [r["prob"] for r in ranked] == sorted((r["prob"] for r in ranked), reverse=True)
    assert abs(sum(r["prob"] for r in ranked) - 1) < 0.01
    lines = console.getvalue().splitlines()
    assert lines[-1].endswith("] keras-text: endpoint byoc-keras-test-endpoint deleted")
    assert "Describe Endpoint" in re.findall(r"StateEntered name=(.+)", console.getvalue())
    assert outcome.model_tarball().is_file()
