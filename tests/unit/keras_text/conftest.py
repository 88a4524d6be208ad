"""The chiVe table the unit tests read: extracted by `make chive` (never downloaded by a test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VECTORS_DIR = Path(os.environ.get("KERAS_TEXT_VECTORS_DIR") or REPO / "data" / "chive")


@pytest.fixture(scope="session")
def chive_dir() -> Path:
    if not (VECTORS_DIR / "vectors.npy").is_file():
        pytest.fail(f"the chiVe table is not in {VECTORS_DIR}: run `make chive` first")
    return VECTORS_DIR
