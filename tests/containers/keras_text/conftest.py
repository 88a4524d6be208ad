from __future__ import annotations

import json
from pathlib import Path

import pytest

from utils.images import image_fixture

keras_text_image = image_fixture("keras-text")

KNBC_DIR = Path(__file__).resolve().parents[3] / "datasets" / "knbc"


def _slice(split: str, rows: int) -> dict[str, bytes]:
    files = {}
    for name in ("features.csv", "labels.csv"):
        lines = (KNBC_DIR / split / name).read_bytes().splitlines(keepends=True)
        files[name] = b"".join(lines[: rows + 1])
    return files


@pytest.fixture(scope="session")
def knbc_channels() -> dict[str, dict[str, bytes]]:
    """A small slice of the corpus: enough to learn something in a few epochs inside the container."""
    return {"train": _slice("train", 1500), "test": _slice("test", 200)}


@pytest.fixture(scope="session")
def small_hps() -> dict[str, str]:
    return {"epochs": "4", "hidden": "16", "embedding-dim": "32", "vocab-size": "2000"}


def write_opt_ml(root: Path, hps: dict[str, str], channels: dict[str, dict[str, bytes]]) -> Path:
    (root / "input/config").mkdir(parents=True, exist_ok=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))
    for channel, files in channels.items():
        (root / "input/data" / channel).mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (root / "input/data" / channel / name).write_bytes(content)
    for sub in ("model", "output", "checkpoints"):
        (root / sub).mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def opt_ml_writer():
    return write_opt_ml
