from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc_pipelines.local import LocalMode
from utils.images import image_fixture

chainer_mnist_image = image_fixture("chainer-mnist")
keras_text_image = image_fixture("keras-text")


@pytest.fixture
def local_mode(tmp_path: Path) -> Iterator[LocalMode]:
    """A local-mode session per test: its own root and serving port; containers removed afterwards."""
    with LocalMode(tmp_path / "local-mode") as session:
        yield session
