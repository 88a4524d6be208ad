"""The stand-in images of the conformance tests: built once per session (cached layers: seconds after the first)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest

IMAGES = Path(__file__).parent / "images"
ENSURE_DOCKER = Path(__file__).resolve().parents[2] / "scripts" / "docker" / "ensure-docker.sh"
TAG = "test"  # byoc-conformance/<folder>:test, never latest


def fake(name: str) -> str:
    return f"byoc-conformance/{name}:{TAG}"


@pytest.fixture(scope="session")
def fakes() -> dict[str, str]:
    """Every stand-in image, built: folder name -> tag. The base first, the others FROM it."""
    client = docker.from_env(timeout=600)
    base = subprocess.run([ENSURE_DOCKER, "--print-base-ref"], check=True, capture_output=True, text=True).stdout
    base_args = {"BASE_IMAGE": base.strip()}
    client.images.build(path=str(IMAGES / "base"), tag=fake("base"), buildargs=base_args, network_mode="host", rm=True)
    built = {}
    for folder in sorted(p for p in IMAGES.iterdir() if p.is_dir() and p.name != "base"):
        client.images.build(path=str(folder), tag=fake(folder.name), buildargs={"BASE": fake("base")}, rm=True)
        built[folder.name] = fake(folder.name)
    return built
