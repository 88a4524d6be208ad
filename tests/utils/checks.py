"""Checks every image's tests share: the SageMaker serving contract's start-up and shutdown behaviour."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker

from sm_contract.training import StopSignal
from utils.containers import TrackedContainer

# How long SageMaker waits between SIGTERM and SIGKILL (`docker stop -t`): 120 s for a training job
# (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-dockerfile.html), 30 s for an
# endpoint's container (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html).
# Tests stop containers with these and check the exit code, which tells a clean stop from the kill (137).
TRAINING_STOP_GRACE_S = 120
SERVING_STOP_GRACE_S = 30


class StopAfter(StopSignal):
    """Reports a stop request after ``n`` polls (training loops poll once per step), as SIGTERM would."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.polls, self.n = 0, n

    @property
    def requested(self) -> bool:
        self.polls += 1
        return self.polls > self.n


def assert_serve_stops_on_sigterm(
    client: docker.DockerClient,
    image: str,
    opt_ml: Path,
    *,
    ping_within_s: float = 120,
    stop_within_s: float = SERVING_STOP_GRACE_S,
) -> None:
    """`serve` answers /ping, then on SIGTERM exits 0 by itself before the SIGKILL that ``stop_within_s`` later
    brings (137): the exit code, not a clock, says whether it stopped in time."""
    tracked = TrackedContainer(client, image)
    try:
        tracked.run("serve", opt_ml=opt_ml, ports={"8080/tcp": ("127.0.0.1", None)})
        tracked.wait_for_ping(timeout_s=ping_within_s)
        assert tracked.container is not None
        tracked.container.stop(timeout=stop_within_s)  # SIGTERM, SIGKILL after stop_within_s
        assert tracked.wait() == 0, tracked.logs()
    finally:
        tracked.remove()


def assert_serve_fails_without_model(client: docker.DockerClient, image: str, opt_ml: Path, message: str) -> None:
    """`serve` with an empty model folder exits non-zero, saying what is missing, instead of running modelless."""
    (opt_ml / "model").mkdir(exist_ok=True)
    tracked = TrackedContainer(client, image)
    try:
        tracked.run("serve", opt_ml=opt_ml)
        assert tracked.wait(timeout_s=120) != 0
        assert message in tracked.logs()
    finally:
        tracked.remove()


def train_in_container(client: docker.DockerClient, image: str, opt_ml: Path, timeout_s: float = 600) -> str:
    """`docker run IMAGE train` on a prepared /opt/ml; its logs. The container is removed whatever happens."""
    trainer = TrackedContainer(client, image)
    try:
        trainer.run("train", opt_ml=opt_ml)
        code = trainer.wait(timeout_s=timeout_s)
        logs = trainer.logs()
        assert code == 0, logs
        return logs
    finally:
        trainer.remove()


@contextlib.contextmanager
def serving(
    client: docker.DockerClient,
    image: str,
    opt_ml: Path,
    workers: int = 2,
    environment: dict[str, str] | None = None,
) -> Iterator[str]:
    """`docker run IMAGE serve` on a free loopback port until /ping is 200; yields the base URL."""
    tracked = TrackedContainer(client, image)
    try:
        tracked.run(
            "serve",
            opt_ml=opt_ml,
            ports={"8080/tcp": ("127.0.0.1", None)},  # Docker picks a free loopback port
            environment={"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), **(environment or {})},
        )
        tracked.wait_for_ping(timeout_s=120)
        yield f"http://127.0.0.1:{tracked.host_port()}"
    finally:
        tracked.remove()
