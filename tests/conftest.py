"""Shared fixtures: a fake /opt/ml tree, the MNIST subset, and image tags from --image."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", REPO / "data" / "mnist"))


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


OptMlFactory = Callable[..., Path]


@pytest.fixture
def fake_opt_ml(tmp_path: Path) -> OptMlFactory:
    """Write an /opt/ml tree: hyperparameters (as strings, like SageMaker), channels and their files."""

    def make(
        hyperparameters: dict[str, Any] | None = None,
        channels: dict[str, dict[str, bytes | Path]] | None = None,
        base: Path | None = None,
        hosts: tuple[str, ...] = ("algo-1",),
    ) -> Path:
        root = base or tmp_path / "opt_ml"
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        hps = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (hyperparameters or {}).items()}
        (config / "hyperparameters.json").write_text(json.dumps(hps))
        data_config = {}
        for channel, files in (channels or {}).items():
            folder = root / "input" / "data" / channel
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                target = folder / name
                target.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
            data_config[channel] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": hosts[0], "hosts": list(hosts), "network_interface_name": "eth0"})
        )
        for sub in ("model", "output", "checkpoints"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return root

    return make


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train" / "train.npz").is_file():
        pytest.fail(f"MNIST data not prepared in {MNIST_DIR}: run `make data` first")
    return MNIST_DIR
