"""Fixtures of the keras-text model tests: one small model trained in process, shared by the serving tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keras_text.serving import app
from keras_text.training.job import VECTORS_ENV, train
from sm_contract.environment import ServingEnv
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from sm_contract.training import run_training
from utils.data import knbc_slice, write_opt_ml

REPO = Path(__file__).resolve().parents[3]
VECTORS_DIR = Path(os.environ.get(VECTORS_ENV) or REPO / "data" / "chive")
# Small but learnable: a few epochs on 1,200 sentences reach well above the 36 % majority class.
SMALL_HPS = {"epochs": "4", "hidden": "16", "batch-size": "32", "input-len": "32"}
# The in-job tokenizer and word2vec, small.
SENTENCEPIECE_HPS = {**SMALL_HPS, "tokenizer": "sentencepiece", "embedding-dim": "32", "vocab-size": "2000"}

RunJob = Callable[[Path], int]
Serve = Callable[[Path], contextlib.AbstractContextManager[TestClient]]


@pytest.fixture(scope="session")
def chive_dir() -> Path:
    if not (VECTORS_DIR / "vectors.npy").is_file():
        pytest.fail(f"the chiVe table is not in {VECTORS_DIR}: run `make chive` first")
    return VECTORS_DIR


@pytest.fixture(scope="session")
def run_job(chive_dir: Path) -> RunJob:
    """``run_training`` of the image's job on an /opt/ml tree, with the host's chiVe table; the exit code."""
    return lambda root: run_training(train, {"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(chive_dir)})


@pytest.fixture(scope="session")
def small_hps() -> dict[str, str]:
    return dict(SMALL_HPS)


@pytest.fixture(scope="session")
def small_channels() -> dict[str, dict[str, bytes]]:
    return {"train": knbc_slice("train", 1200), "test": knbc_slice("test", 200)}


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory, small_channels, run_job: RunJob) -> Path:
    """An /opt/ml tree after one small training job of the default model (shared by the serving tests)."""
    root = write_opt_ml(tmp_path_factory.mktemp("keras_text_opt_ml"), SMALL_HPS, small_channels)
    assert run_job(root) == 0, (root / "output/failure").read_text()
    return root


@pytest.fixture(scope="session")
def sentencepiece_root(tmp_path_factory: pytest.TempPathFactory, small_channels, run_job: RunJob) -> Path:
    """The same job with SentencePiece pieces and word2vec vectors trained in the job."""
    root = write_opt_ml(tmp_path_factory.mktemp("keras_text_sp_opt_ml"), SENTENCEPIECE_HPS, small_channels)
    assert run_job(root) == 0, (root / "output/failure").read_text()
    return root


@pytest.fixture(scope="session")
def serve() -> Serve:
    """The image's server of ``root/model`` in process: the loader and routes the image ships, no other path."""

    @contextlib.contextmanager
    def served(root: Path) -> Iterator[TestClient]:
        env = ServingEnv(paths=MLPaths(root))
        with TestClient(create_app(app.load, env, routes=app.ROUTES)) as client:
            yield client

    return served
