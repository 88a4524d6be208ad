"""The keras-text test model trained once per session by the image itself, and one server of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from utils import keras_model
from utils.checks import serving, train_in_container
from utils.data import write_opt_ml


@dataclass(frozen=True)
class Trained:
    root: Path  # the job's /opt/ml
    logs: str  # the training container's


@pytest.fixture(scope="session")
def trained(keras_text_image, docker_client, tmp_path_factory) -> Trained:
    """``docker run IMAGE train`` of the test model; a version folder other than the default, which the export
    and the server must follow."""
    hps = {**keras_model.HYPERPARAMETERS, "model-version": "3"}
    root = write_opt_ml(tmp_path_factory.mktemp("keras_text_trained"), hps, keras_model.channels())
    return Trained(root, train_in_container(docker_client, keras_text_image, root))


@pytest.fixture(scope="session")
def url(keras_text_image, docker_client, trained: Trained) -> Iterator[str]:
    """``docker run IMAGE serve`` of the test model (the image's default workers)."""
    with serving(docker_client, keras_text_image, trained.root) as base_url:
        yield base_url
