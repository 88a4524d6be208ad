"""The stand-in images of the conformance tests: built once per session (cached layers: seconds after the first)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

IMAGES = Path(__file__).parent / "images"
TAG = "test"  # byoc-conformance/<folder>:test, never latest


def fake(name: str) -> str:
    return f"byoc-conformance/{name}:{TAG}"


@pytest.fixture(scope="session")
def fakes() -> dict[str, str]:
    """Every stand-in image, built: folder name -> tag. The base first, the others FROM it."""
    client = docker.from_env(timeout=600)
    client.images.build(path=str(IMAGES / "base"), tag=fake("base"), network_mode="host", rm=True)
    built = {}
    for folder in sorted(p for p in IMAGES.iterdir() if p.is_dir() and p.name != "base"):
        client.images.build(path=str(folder), tag=fake(folder.name), buildargs={"BASE": fake("base")}, rm=True)
        built[folder.name] = fake(folder.name)
    return built
