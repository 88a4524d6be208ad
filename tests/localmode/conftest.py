from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils import keras_model
from utils.data import write_knbc_slice


@pytest.fixture
def local_mode(tmp_path: Path) -> Iterator[LocalMode]:
    """A local-mode session per test: its own root and serving port; containers removed afterwards."""
    with LocalMode(tmp_path / "local-mode") as session:
        yield session


@pytest.fixture
def runner(local_mode: LocalMode) -> LocalModeRunner:
    """AWS-shaped requests with ``file://`` URIs, run by the test's local-mode session."""
    return LocalModeRunner(local_mode)


@pytest.fixture(scope="session")
def keras_text_job(keras_text_image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The keras-text test model (``utils.keras_model``) trained once through local mode, in a session of its own:
    DescribeTrainingJob of the finished job, whose ``ModelArtifacts`` the tests serve."""
    root = tmp_path_factory.mktemp("keras_text_job")
    write_knbc_slice(root / "data" / "train", "train", keras_model.TRAIN_ROWS)
    with LocalMode(root / "local-mode") as session:
        runner = LocalModeRunner(session)
        request = sm.training_job(
            "knbc-train",
            keras_text_image,
            {"train": f"file://{root}/data/train"},
            f"file://{root}/output",
            keras_model.HYPERPARAMETERS,
        )
        runner.call("CreateTrainingJob", request)
        return runner.wait_for_training_job("knbc-train")
