"""The keras-text test model trained in process once per session, and the image's server of a model in process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keras_text.image import IMAGE
from keras_text.training.job import VECTORS_ENV, train
from sm_contract.environment import ServingEnv
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from sm_contract.training import run_training
from utils import keras_model
from utils.data import write_opt_ml

# The in-job tokenizer and word2vec, small.
SENTENCEPIECE_HPS = {
    **keras_model.HYPERPARAMETERS,
    "tokenizer": "sentencepiece",
    "embedding-dim": "32",
    "vocab-size": "2000",
}

RunJob = Callable[[Path], int]
Serve = Callable[[Path], contextlib.AbstractContextManager[TestClient]]


@pytest.fixture(scope="session")
def run_job(chive_dir: Path) -> RunJob:
    """``run_training`` of the image's job on an /opt/ml tree, with the host's chiVe table; the exit code."""
    return lambda root: run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(chive_dir)})


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory, run_job: RunJob) -> Path:
    """An /opt/ml tree after one job of the test model (the default model, small), shared by the serving tests."""
    root = tmp_path_factory.mktemp("keras_text_opt_ml")
    write_opt_ml(root, keras_model.HYPERPARAMETERS, keras_model.channels())
    assert run_job(root) == 0, (root / "output/failure").read_text()
    return root


@pytest.fixture(scope="session")
def sentencepiece_root(tmp_path_factory: pytest.TempPathFactory, run_job: RunJob) -> Path:
    """The same job with SentencePiece pieces and word2vec vectors trained in the job."""
    root = write_opt_ml(tmp_path_factory.mktemp("keras_text_sp_opt_ml"), SENTENCEPIECE_HPS, keras_model.channels())
    assert run_job(root) == 0, (root / "output/failure").read_text()
    return root


@pytest.fixture(scope="session")
def serve() -> Serve:
    """The image's server of ``root/model`` in process: the loader and routes the image ships, no other path."""

    @contextlib.contextmanager
    def served(root: Path) -> Iterator[TestClient]:
        env = ServingEnv(paths=MLPaths(root))
        routes = IMAGE.routes() if IMAGE.routes else ()
        with TestClient(create_app(IMAGE.loader(), env, routes=routes)) as client:
            yield client

    return served
