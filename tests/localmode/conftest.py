from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode


@pytest.fixture
def local_mode(tmp_path: Path) -> Iterator[LocalMode]:
    """A local-mode session per test: its own root and serving port; containers removed afterwards."""
    with LocalMode(tmp_path / "local-mode") as session:
        yield session


@pytest.fixture
def runner(local_mode: LocalMode) -> LocalModeRunner:
    """AWS-shaped requests with ``file://`` URIs, run by the test's local-mode session."""
    return LocalModeRunner(local_mode)
