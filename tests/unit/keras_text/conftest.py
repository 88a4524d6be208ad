"""Fixtures of the keras-text tests: slices of the KNB corpus and one small model trained in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keras_text.train import train
from sm_contract.training import run_training

KNBC_DIR = Path(__file__).resolve().parents[3] / "datasets" / "knbc"
# Small but learnable: a few epochs on 1,200 sentences reach well above the 36 % majority class.
SMALL_HPS = {"epochs": "4", "hidden": "16", "embedding-dim": "32", "vocab-size": "2000", "batch-size": "32"}


def knbc_slice(split: str, rows: int) -> dict[str, bytes]:
    """The first ``rows`` rows (plus header) of ``features.csv`` and ``labels.csv`` of a split."""
    files = {}
    for name in ("features.csv", "labels.csv"):
        lines = (KNBC_DIR / split / name).read_bytes().splitlines(keepends=True)
        files[name] = b"".join(lines[: rows + 1])
    return files


def _write_opt_ml(root: Path, hyperparameters: dict[str, str], channels: dict[str, dict[str, bytes]]) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    for channel, files in channels.items():
        folder = root / "input" / "data" / channel
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)
    (config / "inputdataconfig.json").write_text(json.dumps({c: {"TrainingInputMode": "File"} for c in channels}))
    return root


@pytest.fixture(scope="session")
def write_opt_ml():
    """``write_opt_ml(root, hyperparameters, channels)``: an /opt/ml tree at ``root`` (any fixture scope)."""
    return _write_opt_ml


@pytest.fixture(scope="session")
def small_hps() -> dict[str, str]:
    return dict(SMALL_HPS)


@pytest.fixture(scope="session")
def small_channels() -> dict[str, dict[str, bytes]]:
    return {"train": knbc_slice("train", 1200), "test": knbc_slice("test", 200)}


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory, small_channels) -> Path:
    """An /opt/ml tree after one small training job (shared by the serving tests)."""
    root = _write_opt_ml(tmp_path_factory.mktemp("keras_text_opt_ml"), SMALL_HPS, small_channels)
    assert run_training(train, {"SAGEMAKER_BASE_DIR": str(root)}) == 0, (root / "output/failure").read_text()
    return root
