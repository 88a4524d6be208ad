"""LocalMode removes its own containers on exit, and only those: a concurrent run's ``algo-*`` containers stay."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from byoc_pipelines.local.session import COMPOSE_FOLDER_LABEL, RUN_LABEL, LocalMode

pytestmark = pytest.mark.container


@pytest.fixture
def started() -> Iterator[list[str]]:
    """Names of containers a test starts; all removed at teardown whatever LocalMode did."""
    names: list[str] = []
    yield names
    client = docker.from_env()
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)


def _run(image: str, name: str, labels: dict[str, str], started: list[str]) -> None:
    started.append(name)
    docker.from_env().containers.run(image, ["sleep", "120"], name=name, labels=labels, detach=True)


def _exists(name: str) -> bool:
    try:
        docker.from_env().containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def test_only_this_runs_containers_are_removed(chainer_mnist_image: str, tmp_path: Path, started: list[str]) -> None:
    suffix = uuid.uuid4().hex[:6]
    with LocalMode(tmp_path / "run") as local_mode:
        labelled, from_our_compose = f"ours-{suffix}-algo-1-aaaaa", f"trainer-{suffix}_algo-1_1"
        foreign, other_run = f"theirs-{suffix}-algo-1-bbbbb", f"other-{suffix}-algo-2-ccccc"
        _run(chainer_mnist_image, labelled, {RUN_LABEL: local_mode.run_id}, started)
        _run(chainer_mnist_image, from_our_compose, {COMPOSE_FOLDER_LABEL: str(tmp_path / "run" / "trainer")}, started)
        _run(chainer_mnist_image, foreign, {}, started)  # a concurrent run's container, created during ours
        _run(chainer_mnist_image, other_run, {RUN_LABEL: "another-run", COMPOSE_FOLDER_LABEL: str(tmp_path)}, started)
        assert set(local_mode.containers()) == {
            docker.from_env().containers.get(name).id for name in (labelled, from_our_compose)
        }
    assert not _exists(labelled) and not _exists(from_our_compose)
    assert _exists(foreign) and _exists(other_run)
