"""The images install hash-locked requirements: every lock matches its .in file and carries hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from utils.data import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
INPUTS = [*sorted(REPO.glob("containers/*/requirements*.in")), REPO / "containers/build-requirements.in"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_normal(match.group(1))] = match.group(2)
    return pins


def _hashed(lock: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    current = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = _normal(match.group(1))
            counts[current] = 0
        elif current and line.strip().startswith("--hash=sha256:"):
            counts[current] += 1
    return counts


@pytest.mark.parametrize("source", INPUTS, ids=[str(p.relative_to(REPO)) for p in INPUTS])
def test_the_lock_pins_exactly_the_in_file_with_hashes(source: Path) -> None:
    lock = source.with_suffix(".txt")
    assert lock.is_file(), f"{lock} is missing: run `make lock`"
    assert _pins(lock) == _pins(source), f"{lock} is out of date: run `make lock`"
    assert all(count >= 1 for count in _hashed(lock).values())


@pytest.mark.parametrize("dockerfile", sorted(REPO.glob("containers/*/Dockerfile")), ids=lambda p: p.parent.name)
def test_images_install_with_hashes_required(dockerfile: Path) -> None:
    installs = [line for line in dockerfile.read_text().splitlines() if re.search(r"pip install .*-r /tmp/", line)]
    assert installs and all("--require-hashes" in line for line in installs)
