"""The rendered definitions executed on moto's interpreter, the SageMaker tasks running our real images.

The Chainer runs go through ``python -m byoc_pipelines.cli local`` as ``make pipeline/local`` does, in a child
process with its own terminal streams, to check what reaches the console with and without ``--verbose``.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from byoc_pipelines.local import pipeline
from byoc_pipelines.logs import Progress
from utils.data import KNBC_DIR, REPO

pytestmark = pytest.mark.container

# Lines only the containers, compose and the SDK print: the trainer's metric lines, the training job's host
# prefix, urllib3's retries while the serving container starts, the SDK's banner.
CONTAINER_MARKERS = ("epoch=", " algo-1 | ", "Retrying", "NewConnectionError", "===== Job Complete =====")


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "byoc_pipelines.cli", *argv]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)


def test_chainer_lambda_variant_with_a_quiet_console(chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path) -> None:
    done = run_cli(
        *("local", "chainer-mnist-batch-lambda", "--image", chainer_mnist_image, "--data", str(mnist_dir)),
        *("--root", str(tmp_path), "--train-size", "2000", "--name", "chainer-test"),
        *("--hyperparameter", "epochs=1", "--hyperparameter", "units=50"),
    )
    console = done.stdout + done.stderr
    assert done.returncode == 0, console
    assert done.stderr == ""
    assert not [marker for marker in CONTAINER_MARKERS if marker in console], console
    steps = [line for line in done.stdout.splitlines() if line.startswith(">> [")]
    assert all(re.match(r">> \[ *\d+\.\d s\] [a-z-]+: ", line) for line in steps), steps
    entered = re.findall(r"StateEntered name=(.+)", done.stdout)
    assert entered == [
        "Name Resources",
        "Build Channels",
        *["Channel"] * 3,
        "Train Model",
        "Create Model",
        "Batch Transform",
    ]
    assert "TaskScheduled resource=invoke" in done.stdout
    accuracy = float(re.search(r"accuracy (0\.\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert accuracy > 0.5  # 2,000 images, one epoch

    # The artifact has AWS's layout under the stand-in bucket, and the summary lists it with the pictures and logs.
    model = tmp_path / "s3/byoc-sagemaker-data/models/chainer-mnist/chainer-test/byoc-chainer-test-train/output"
    assert (model / "model.tar.gz").stat().st_size > 0
    assert f"  {model / 'model.tar.gz'}" in done.stdout
    assert f"  {tmp_path / 'pictures' / 'training_curves.png'}" in done.stdout
    assert "workflow picture: pipelines/definitions/chainer-mnist-batch-lambda.png" in done.stdout
    log = tmp_path / "logs" / "chainer-mnist-batch-lambda.log"
    assert done.stdout.rstrip().endswith(f"container and SDK logs: {log}")
    assert "epoch=1 " in log.read_text()  # the container's output went to the file instead


def test_the_tutorials_script_mode_flow_on_two_hosts(chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path) -> None:
    """`make pipeline/local`'s Chainer run: sourcedir.tar.gz under the run's prefix, ChainerMN on 2 hosts, the
    model serving the script's module, the batch transform of test.npy through its input_fn and output_fn."""
    done = run_cli(
        *("local", "chainer-mnist-batch", "--image", chainer_mnist_image, "--data", str(mnist_dir)),
        *("--root", str(tmp_path), "--train-size", "2000", "--name", "script-test", "--instance-count", "2"),
        *("--source-dir", "examples/chainer-script", "--program", "chainer_mnist.py"),
        *("--hyperparameter", "epochs=2", "--hyperparameter", "units=100", "--hyperparameter", "batch-size=50"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    code = "s3://byoc-sagemaker-data/code/chainer-mnist/script-test/sourcedir.tar.gz"
    assert f"script mode: chainer_mnist.py from examples/chainer-script on 2 hosts, as {code}" in done.stdout
    assert (tmp_path / "s3" / code.removeprefix("s3://")).is_file()
    log = (tmp_path / "logs" / "chainer-mnist-batch.log").read_text()
    assert '"instance_count": 2' in log and '"sagemaker_program": "chainer_mnist.py"' in log  # the input sent
    assert re.search(r"2 process\(es\) on host algo-1;", log), log[-3000:]
    assert "serving chainer_mnist.py from /opt/ml/code" in log  # the model serves the script's module
    accuracy = float(re.search(r"accuracy (0\.\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert accuracy > 0.7  # 2,000 images, two short epochs; labels from the script's output_fn


def test_verbose_puts_container_output_on_the_console(
    chainer_mnist_image: str, mnist_dir: Path, tmp_path: Path
) -> None:
    done = run_cli(
        *("--verbose", "local", "chainer-mnist-batch", "--image", chainer_mnist_image, "--data", str(mnist_dir)),
        *(
            "--root",
            str(tmp_path),
            "--train-size",
            "500",
            "--hyperparameter",
            "epochs=1",
            "--hyperparameter",
            "units=16",
        ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "epoch=1 " in done.stdout + done.stderr
    assert ">> [" in done.stdout
    assert not (tmp_path / "logs").exists()


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
    assert lines[-1].endswith("] keras-text: endpoint byoc-keras-text-endpoint deleted")
    assert "Describe Endpoint" in re.findall(r"StateEntered name=(.+)", console.getvalue())
    assert outcome.model_tarball().is_file()
