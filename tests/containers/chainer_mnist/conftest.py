"""The chainer-mnist container layer's shared fixture: one model trained in the image, served by every test that
needs a trained model (the serving tests and the HTTP fuzz), so the layer trains it once."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from utils.checks import train_in_container
from utils.data import mnist_subset_bytes, write_opt_ml


@pytest.fixture(scope="session")
def trained_root(
    chainer_mnist_image: str, docker_client: docker.DockerClient, mnist_dir: Path, tmp_path_factory
) -> Path:
    """An /opt/ml tree after `docker run IMAGE train`: 3 epochs on 6,000 images (well above 0.9 accuracy)."""
    channels = {c: {f"{c}.npz": mnist_subset_bytes(mnist_dir, c, n)} for c, n in (("train", 6000), ("valid", 500))}
    root = write_opt_ml(tmp_path_factory.mktemp("serve_opt_ml"), {"epochs": "3", "units": "200"}, channels)
    train_in_container(docker_client, chainer_mnist_image, root)
    return root
