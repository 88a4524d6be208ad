"""Fixtures of the keras-text model tests: one small model trained in process, shared by the serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_text.train import train
from sm_contract.training import run_training
from utils.data import knbc_slice, write_opt_ml

# Small but learnable: a few epochs on 1,200 sentences reach well above the 36 % majority class.
SMALL_HPS = {"epochs": "4", "hidden": "16", "embedding-dim": "32", "vocab-size": "2000", "batch-size": "32"}


@pytest.fixture(scope="session")
def small_hps() -> dict[str, str]:
    return dict(SMALL_HPS)


@pytest.fixture(scope="session")
def small_channels() -> dict[str, dict[str, bytes]]:
    return {"train": knbc_slice("train", 1200), "test": knbc_slice("test", 200)}


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory, small_channels: dict[str, dict[str, bytes]]) -> Path:
    """An /opt/ml tree after one small training job (shared by the serving tests)."""
    root = write_opt_ml(tmp_path_factory.mktemp("keras_text_opt_ml"), SMALL_HPS, small_channels)
    assert run_training(train, {"SAGEMAKER_BASE_DIR": str(root)}) == 0, (root / "output/failure").read_text()
    return root
