"""Every venv and image installs hash-locked requirements: each lock matches its .in file and carries hashes.

Two kinds of lock (scripts/lock-requirements.sh): the images' and the build tools' .in files are complete sets,
locked one to one; the others hold top-level pins that uv resolves into a complete set.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from utils.data import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")
VIA = re.compile(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$")
COMPLETE = [
    *sorted(REPO.glob("containers/*/requirements*.in")),
    *sorted(REPO.glob("templates/*/requirements*.in")),  # what `make new-image` copies into containers/
    REPO / "containers/build-requirements.in",
]
RESOLVED = [
    REPO / "scripts/requirements-uv.in",
    REPO / "requirements-dev.in",
    REPO / "pipelines/requirements.in",
    REPO / "tests/toolkit/requirements.in",
    REPO / "bench/tools-requirements.in",
]
IMAGE_LOCKS = sorted(REPO.glob("containers/*/requirements.txt"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_normal(match.group(1))] = match.group(2)
    return pins


def _entries(lock: Path) -> dict[str, tuple[int, set[str]]]:
    """Each locked package: how many hashes it has and what pulled it in (its ``# via`` lines)."""
    entries: dict[str, tuple[int, set[str]]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            current = _normal(match.group(1))
            entries[current] = (0, set())
        elif current and line.strip().startswith("--hash=sha256:"):
            count, via = entries[current]
            entries[current] = (count + 1, via)
        elif current and (match := VIA.match(line)):
            entries[current][1].add(_normal(match.group(1)))
    return entries


def _in_files() -> set[Path]:
    """Every requirements .in file of the work tree, tracked or new, never one under an ignored folder (.venv,
    node_modules, build): git lists them without walking the venvs' hundred thousand files."""
    command = ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*requirements*.in"]
    listed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {REPO / line for line in listed.splitlines() if (REPO / line).is_file()}


def test_every_in_file_is_locked_by_make_lock() -> None:
    found = _in_files()
    assert found == set(COMPLETE) | set(RESOLVED)
    script = (REPO / "scripts/lock-requirements.sh").read_text()
    assert all(f"compile {p.relative_to(REPO)}" in script for p in RESOLVED)


@pytest.mark.parametrize("source", COMPLETE, ids=_ids(COMPLETE))
def test_a_complete_set_is_locked_one_to_one_with_hashes(source: Path) -> None:
    lock = source.with_suffix(".txt")
    assert lock.is_file(), f"{lock} is missing: run `make lock`"
    assert _pins(lock) == _pins(source), f"{lock} is out of date: run `make lock`"
    assert all(count >= 1 for count, _ in _entries(lock).values())


@pytest.mark.parametrize("source", RESOLVED, ids=_ids(RESOLVED))
def test_a_resolved_lock_holds_the_pins_and_only_what_they_pull_in(source: Path) -> None:
    lock = source.with_suffix(".txt")
    assert lock.is_file(), f"{lock} is missing: run `make lock`"
    locked = _pins(lock)
    wanted = _pins(source)
    for line in source.read_text().splitlines():  # -r other.in: its pins are wanted too
        if line.startswith("-r "):
            wanted |= _pins(source.parent / line.split()[1])
    assert {name: locked.get(name) for name in wanted} == wanted, f"{lock} is out of date: run `make lock`"
    entries = _entries(lock)
    stale = [name for name, (_, via) in entries.items() if name not in wanted and not via & entries.keys()]
    assert not stale, f"{lock} holds packages nothing pulls in ({stale}): run `make lock`"
    assert all(count >= 1 for count, _ in entries.values())


@pytest.mark.parametrize("image_lock", IMAGE_LOCKS, ids=lambda p: p.parent.name)
def test_the_test_tooling_moves_no_package_an_image_pins(image_lock: Path) -> None:
    dev, image = _pins(REPO / "requirements-dev.txt"), _pins(image_lock)
    shared = dev.keys() & image.keys()
    assert {name: dev[name] for name in shared} == {name: image[name] for name in shared}


def test_the_tools_venv_tests_with_the_same_tooling() -> None:
    dev, tools = _pins(REPO / "requirements-dev.txt"), _pins(REPO / "pipelines/requirements.txt")
    assert {name: tools.get(name) for name in dev} == dev


def test_host_venvs_install_with_hashes_required() -> None:
    script = (REPO / "scripts/make-venv.sh").read_text().splitlines()
    installs = [line.strip() for line in script if re.search(r"-r \S*requirements\S*\.txt", line)]
    assert installs and all(line.startswith("locked ") for line in installs), installs
    assert 'locked() { install --require-hashes --no-deps "$@"; }' in (REPO / "scripts/make-venv.sh").read_text()


@pytest.mark.parametrize("dockerfile", sorted(REPO.glob("containers/*/Dockerfile")), ids=lambda p: p.parent.name)
def test_images_install_with_hashes_required(dockerfile: Path) -> None:
    installs = [line for line in dockerfile.read_text().splitlines() if re.search(r"pip install .*-r /tmp/", line)]
    assert installs and all("--require-hashes" in line for line in installs)
