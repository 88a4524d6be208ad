"""Fixtures every venv's tests share: image tags from --image, a fake /opt/ml tree, the prepared MNIST data,
the chiVe table.

Fixtures of one layer only live in that layer's conftest.py (tests/containers: the Docker client and containers
removed after each test; tests/localmode: a local-mode session). tests/README.md lists which venv runs which folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from utils.data import write_opt_ml
from utils.images import image_fixture

REPO = Path(__file__).resolve().parent.parent
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", REPO / "data" / "mnist"))
# keras-text's default embedding, extracted by `make chive` (never downloaded by a test).
CHIVE_DIR = Path(os.environ.get("KERAS_TEXT_VECTORS_DIR") or REPO / "data" / "chive")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--image",
        action="append",
        default=[],
        metavar="NAME=TAG",
        help="image under test, e.g. chainer-mnist=byoc/chainer-mnist:latest (repeatable)",
    )


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in request.config.getoption("image")]
    return {name: tag for name, tag in pairs}


# The images under test (container, local-mode, compose and pipeline tests): skipped without --image NAME=TAG.
chainer_mnist_image = image_fixture("chainer-mnist")
keras_text_image = image_fixture("keras-text")

OptMlFactory = Callable[..., Path]


@pytest.fixture
def fake_opt_ml(tmp_path: Path) -> OptMlFactory:
    """Write an /opt/ml tree (see :func:`utils.data.write_opt_ml`), by default at ``tmp_path/opt_ml``."""

    def make(
        hyperparameters: dict[str, Any] | None = None,
        channels: dict[str, dict[str, bytes | Path]] | None = None,
        base: Path | None = None,
        hosts: tuple[str, ...] = ("algo-1",),
    ) -> Path:
        return write_opt_ml(base or tmp_path / "opt_ml", hyperparameters, channels, hosts=hosts)

    return make


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train" / "train.npz").is_file():
        pytest.fail(f"MNIST data not prepared in {MNIST_DIR}: run `make data` first")
    return MNIST_DIR


@pytest.fixture(scope="session")
def chive_dir() -> Path:
    if not (CHIVE_DIR / "vectors.npy").is_file():
        pytest.fail(f"the chiVe table is not in {CHIVE_DIR}: run `make chive` first")
    return CHIVE_DIR
