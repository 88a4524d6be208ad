"""scripts/docker/ensure-docker.sh when the daemon is slow or gone: it touches only what it started.

A stand-in ``docker`` CLI (``info`` fails until told otherwise), ``dockerd`` (records its arguments) and
``pgrep`` come first on PATH; the socket, pid file and log live in the test's folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from utils.data import REPO

SCRIPT = REPO / "scripts" / "docker" / "ensure-docker.sh"
FAKE_DOCKER = """#!/bin/bash
# info fails until the fake dockerd started, or until call number $SLOW_CALLS (a slow daemon); images exist
if [[ $1 == info ]]; then
  [[ -e $STATE/ready ]] && exit 0
  n=$(( $(cat "$STATE/calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$STATE/calls"
  (( n >= ${SLOW_CALLS:-999} )) && exit 0
  exit 1
fi
exit 0
"""
FAKE_DOCKERD = """#!/bin/bash
echo "$@" > "$STATE/dockerd-args"; touch "$STATE/ready"; sleep 2
"""
FAKE_PGREP = """#!/bin/bash
[[ -n ${RUNNING_DOCKERD:-} ]] && echo "$RUNNING_DOCKERD"; [[ -n ${RUNNING_DOCKERD:-} ]]
"""


@pytest.fixture
def state(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("dockerd", FAKE_DOCKERD), ("pgrep", FAKE_PGREP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def run(state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PATH": f"{state / 'bin'}:{os.environ['PATH']}",
        "DOCKER_CLI": str(state / "bin" / "docker"),
        "DOCKER_HOST": f"unix://{state / 'docker.sock'}",
        "DOCKERD_PIDFILE": str(state / "docker.pid"),
        "DOCKERD_OWN_PIDFILE": str(state / "own.pid"),
        "DOCKERD_LOG": str(state / "dockerd.log"),
        "STATE": str(state),
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=environ, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def listening(state: Path) -> Iterator[Path]:
    """A socket something listens on, as a slow daemon's."""
    path = state / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        yield path


def test_a_slow_daemon_on_the_socket_is_waited_for_and_its_files_kept(state: Path, listening: Path) -> None:
    (state / "docker.pid").write_text("4242\n")  # someone else's pid file
    done = run(state, SLOW_CALLS="4")
    assert done.returncode == 0, done.stderr
    assert "does not answer yet; waiting" in done.stderr
    assert listening.is_socket() and (state / "docker.pid").read_text() == "4242\n"
    assert not (state / "dockerd-args").exists()  # no second daemon


def test_a_running_dockerd_is_waited_for_even_without_pid_file_or_socket(state: Path) -> None:
    done = run(state, SLOW_CALLS="4", RUNNING_DOCKERD=str(os.getpid()))
    assert done.returncode == 0, done.stderr
    assert f"dockerd pid {os.getpid()}" in done.stderr
    assert not (state / "dockerd-args").exists()


def test_a_daemon_that_never_answers_is_reported_not_replaced(state: Path, listening: Path) -> None:
    done = run(state, RUNNING_DOCKERD=str(os.getpid()), DOCKERD_WAIT_S="3")  # info never succeeds
    assert done.returncode == 1
    assert "does not answer 'docker info'" in done.stderr
    assert listening.is_socket() and not (state / "dockerd-args").exists()


def test_without_a_daemon_stale_files_are_left_to_dockerd(state: Path) -> None:
    stale = state / "docker.sock"
    with socket.socket(socket.AF_UNIX) as gone:  # bound, then closed: nobody listens any more
        gone.bind(str(stale))
    (state / "docker.pid").write_text("999999\n")  # no such process
    done = run(state)
    assert done.returncode == 0, done.stderr
    assert stale.is_socket() and (state / "docker.pid").read_text() == "999999\n"  # dockerd deals with them
    assert f"--pidfile {state / 'docker.pid'}" in (state / "dockerd-args").read_text()


def test_a_pid_file_naming_a_live_process_is_kept_and_ours_goes_elsewhere(state: Path) -> None:
    (state / "docker.pid").write_text(f"{os.getpid()}\n")  # pid reuse: a live process that is not dockerd
    done = run(state)
    assert done.returncode == 0, done.stderr
    assert (state / "docker.pid").read_text() == f"{os.getpid()}\n"
    assert f"--pidfile {state / 'own.pid'}" in (state / "dockerd-args").read_text()


FAKE_DOCKER_WITHOUT_BASE = """#!/bin/bash
# the daemon answers; the base image exists only once pulled and tagged; every call is recorded
echo "$@" >> "$STATE/docker-calls"
case $1 in
  info) exit 0 ;;
  image) [[ -e $STATE/tagged ]] ;;
  pull) touch "$STATE/pulled" ;;
  tag) [[ -e $STATE/pulled ]] && touch "$STATE/tagged" ;;
  *) exit 0 ;;
esac
"""


def test_the_base_image_is_pulled_by_digest_then_tagged(state: Path) -> None:
    (state / "bin" / "docker").write_text(FAKE_DOCKER_WITHOUT_BASE)
    done = run(state, BASE_IMAGE_DIGEST="sha256:" + "ab" * 32)
    assert done.returncode == 0, done.stderr
    calls = (state / "docker-calls").read_text().splitlines()
    assert f"pull -q debian:bookworm-slim@sha256:{'ab' * 32}" in calls
    assert f"tag debian:bookworm-slim@sha256:{'ab' * 32} debian:bookworm-slim" in calls
    assert all(call.startswith("pull -q debian:bookworm-slim@sha256:") for call in calls if call.startswith("pull"))
