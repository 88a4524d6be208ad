from __future__ import annotations

import pytest

from utils.data import knbc_slice
from utils.images import image_fixture

keras_text_image = image_fixture("keras-text")


@pytest.fixture(scope="session")
def knbc_channels() -> dict[str, dict[str, bytes]]:
    """A small slice of the corpus: enough to learn something in a few epochs inside the container."""
    return {"train": knbc_slice("train", 1500), "test": knbc_slice("test", 200)}


@pytest.fixture(scope="session")
def small_hps() -> dict[str, str]:
    return {"epochs": "4", "hidden": "16", "embedding-dim": "32", "vocab-size": "2000"}
