from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from utils.containers import TrackedContainer


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    return docker.from_env(timeout=300)


@pytest.fixture
def container_factory(docker_client: docker.DockerClient) -> Iterator[type]:
    made: list[TrackedContainer] = []

    def make(image: str) -> TrackedContainer:
        tracked = TrackedContainer(docker_client, image)
        made.append(tracked)
        return tracked

    yield make  # type: ignore[misc]
    for tracked in made:
        tracked.remove()
