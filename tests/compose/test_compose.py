"""docker-compose.yml: train with `run --rm`, serve with `up`, healthy by the /ping healthcheck."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from utils.data import REPO, free_port, write_hyperparameters
from utils.waiting import wait_until

pytestmark = pytest.mark.container


def compose_command() -> list[str]:
    """Compose v2 when the docker CLI has it, else docker-compose 1.29."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor docker-compose is installed")


@pytest.fixture
def compose(tmp_path: Path, chainer_mnist_image: str, mnist_dir: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    if mnist_dir.resolve() != (REPO / "data" / "mnist").resolve():
        pytest.skip("docker-compose.yml mounts data/mnist; MNIST_DATA_DIR points elsewhere")
    config = write_hyperparameters(tmp_path / "config", {"epochs": "1", "units": "64"})
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"byoc-test-{tmp_path.name[-12:].lower().replace('_', '-')}",
        "COMPOSE_RUN_DIR": str(tmp_path / "run"),
        "CHAINER_MNIST_CONFIG": str(config),
        "CHAINER_MNIST_IMAGE": chainer_mnist_image,
        "CHAINER_MNIST_PORT": str(free_port()),
    }
    base = [
        *compose_command(),
        "--project-directory",
        str(REPO),
        "-f",
        str(REPO / "docker-compose.yml"),
        "--profile",
        "chainer-mnist",
    ]
    yield base, env
    subprocess.run([*base, "down", "--remove-orphans", "-t", "5"], env=env, capture_output=True, check=False)


def test_train_then_serve(compose: tuple[list[str], dict[str, str]], tmp_path: Path, mnist_dir: Path) -> None:
    base, env = compose
    trained = subprocess.run([*base, "run", "--rm", "chainer-mnist-train"], env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    model_dir = tmp_path / "run" / "chainer-mnist" / "opt_ml" / "model"
    assert (model_dir / "model.npz").exists()
    assert (tmp_path / "run" / "chainer-mnist" / "opt_ml" / "output" / "data" / "training_curves.png").exists()

    started = subprocess.run([*base, "up", "-d", "chainer-mnist-serve"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    container = subprocess.run([*base, "ps", "-q", "chainer-mnist-serve"], env=env, capture_output=True, text=True)
    container_id = container.stdout.strip()

    def healthy() -> bool:
        state = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", container_id],
            capture_output=True,
            text=True,
            check=False,
        )
        return state.stdout.strip() == "healthy"

    wait_until(healthy, timeout_s=90, interval_s=0.5, what="healthcheck")
    images = np.load(mnist_dir / "transform" / "test.npy")[:3]
    response = requests.post(
        f"http://127.0.0.1:{env['CHAINER_MNIST_PORT']}/invocations", json={"instances": images.tolist()}, timeout=10
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3
