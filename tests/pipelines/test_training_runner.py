"""The project's training-job runner with the real chainer-mnist image: the ends SageMaker documents for a job.

A spot interruption without managed spot training, MaxRuntimeInSeconds, and a script that ignores SIGTERM (killed
after the grace). The spot resume, StopTrainingJob through a workflow and an aborted execution are in
test_faults.py; completed and failed jobs on one and two hosts in tests/localmode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc_pipelines.local.attempt import Signals
from byoc_pipelines.local.training import TrainingJobs
from byoc_pipelines.sagemaker import requests as sm
from byoc_pipelines.sagemaker.runner import jsonable
from byoc_pipelines.sagemaker.shapes import result_errors
from utils.data import mnist_subset_bytes

pytestmark = pytest.mark.container

LABEL = "byoc.test.training-runner"


@pytest.fixture
def channels(tmp_path: Path, mnist_dir: Path) -> dict[str, str]:
    uris = {}
    for channel, n in (("train", 500), ("valid", 100)):
        folder = tmp_path / "data" / channel
        folder.mkdir(parents=True)
        (folder / f"{channel}.npz").write_bytes(mnist_subset_bytes(mnist_dir, channel, n))
        uris[channel] = f"file://{folder}"
    return uris


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[TrainingJobs]:
    runner = TrainingJobs(tmp_path / "jobs", labels={LABEL: tmp_path.name}, grace_s=60.0)
    yield runner
    for container in runner.client.containers.list(all=True, filters={"label": f"{LABEL}={tmp_path.name}"}):
        container.remove(force=True)


def _request(image: str, channels: dict[str, str], tmp_path: Path, name: str, epochs: int = 200) -> dict:
    return sm.training_job(
        name, image, channels, f"file://{tmp_path}/out", {"epochs": epochs, "units": 20}, max_runtime_s=600
    )


def test_a_spot_interruption_without_managed_spot_ends_the_job_stopped(
    jobs: TrainingJobs, chainer_mnist_image: str, channels: dict[str, str], tmp_path: Path
) -> None:
    jobs.create(_request(chainer_mnist_image, channels, tmp_path, "reclaimed"))
    assert jobs.wait_for_line("reclaimed", r"\bepoch=1\b", 120)
    jobs.interrupt("reclaimed")
    described = jsonable(jobs.wait("reclaimed", 120))
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Interrupted")
    assert len(jobs.job("reclaimed").attempts) == 1  # no restart without EnableManagedSpotTraining
    assert jobs.job("reclaimed").attempts[0].exits == {"algo-1": 143}  # the image saved a checkpoint and exited
    assert result_errors("sagemaker", "DescribeTrainingJob", described) == []
    assert jobs.client.containers.list(all=True, filters={"label": f"{LABEL}={tmp_path.name}"}) == []


def test_max_runtime_stops_the_job_stopped_not_timed_out(
    jobs: TrainingJobs, chainer_mnist_image: str, channels: dict[str, str], tmp_path: Path
) -> None:
    # A job that cannot end on its own (this MLP does about 50 epochs a second here): only the limit stops it.
    request = _request(chainer_mnist_image, channels, tmp_path, "too-long", epochs=1_000_000)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 8}
    jobs.grace_s = 5.0  # a SIGTERM that comes before the image installs its handler is lost (PID 1): then SIGKILL
    jobs.create(request)
    described = jobs.wait("too-long", 120)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    attempt = jobs.job("too-long").attempts[0]
    assert attempt.signalled == Signals.MAX_RUNTIME and attempt.exits["algo-1"] in (143, 137)
    assert not any("epoch=1000000 " in line for line in jobs.logs("too-long"))  # stopped before its last epoch


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace(
    jobs: TrainingJobs, chainer_mnist_image: str, channels: dict[str, str], tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "stubborn.py").write_text(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring SIGTERM', flush=True)\n"
        "time.sleep(600)\n"
    )
    request = _request(chainer_mnist_image, channels, tmp_path, "stubborn")
    request["HyperParameters"] = {"sagemaker_program": "stubborn.py", "sagemaker_submit_directory": f"file://{code}"}
    jobs.grace_s = 2.0  # SageMaker's 120 s, shortened: the script would never exit on its own
    jobs.create(request)
    assert jobs.wait_for_line("stubborn", "ignoring SIGTERM", 120)
    jobs.stop("stubborn")
    described = jobs.wait("stubborn", 60)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")
    attempt = jobs.job("stubborn").attempts[0]
    assert attempt.exits == {"algo-1": 137}  # SIGKILL
    after = attempt.after_signal_s("algo-1")
    assert after is not None and 2.0 <= after < 30
