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


PIN = "sha256:" + "ab" * 32
FAKE_DOCKER_IMAGES = """#!/bin/bash
# The daemon answers; the pinned image is here when $PINNED is set; debian:bookworm-slim when $TAG_COMMENT is set
# (its comment: the debootstrap import's, or another); no registry is reachable. Every call is recorded.
echo "$@" >> "$STATE/docker-calls"
ref=${@: -1}
case "$1 $2" in
  "info "*) exit 0 ;;
  "image inspect")
    if [[ $ref == debian@sha256:* ]]; then
      [[ -n ${PINNED:-} ]] || exit 1
      [[ ${3:-} == --format ]] && echo sha256:pinned-id
      exit 0
    fi
    [[ -n ${TAG_COMMENT+set} ]] || exit 1
    case ${4:-} in '{{.Comment}}') echo "$TAG_COMMENT" ;; '{{.Id}}') echo sha256:tagged-id ;; esac
    exit 0 ;;
  "pull "*) exit 1 ;;
  *) exit 0 ;;
esac
"""
FAILING_DEBOOTSTRAP = """#!/bin/bash
echo "debootstrap $*" >> "$STATE/docker-calls"; echo "E: no mirror here"; exit 1
"""


def _images(state: Path) -> None:
    (state / "bin" / "docker").write_text(FAKE_DOCKER_IMAGES)
    (state / "bin" / "debootstrap").write_text(FAILING_DEBOOTSTRAP)
    (state / "bin" / "debootstrap").chmod(0o755)


def run_with(state: Path, *args: str, script: Path = SCRIPT, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PATH": f"{state / 'bin'}:{os.environ['PATH']}",
        "DOCKER_CLI": str(state / "bin" / "docker"),
        "DOCKER_HOST": f"unix://{state / 'docker.sock'}",
        "STATE": str(state),
        "BASE_IMAGE_DIGEST": PIN,
        **env,
    }
    command = ["bash", str(script), *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)


def test_builds_use_the_pinned_digest_and_the_tag_is_pointed_at_it(state: Path) -> None:
    _images(state)
    done = run_with(state, "--print-base-ref", PINNED="1", TAG_COMMENT="")  # the tag: something else
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"debian@{PIN}\n"
    assert f"tag debian@{PIN} debian:bookworm-slim" in (state / "docker-calls").read_text().splitlines()


def test_the_local_debootstrap_build_stands_in_for_the_digest(state: Path) -> None:
    _images(state)
    done = run_with(state, "--print-base-ref", TAG_COMMENT="debootstrap --variant=minbase bookworm http://mirror/d")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "debian:bookworm-slim\n"
    assert not [c for c in (state / "docker-calls").read_text().splitlines() if c.startswith(("pull", "tag"))]


def test_an_image_that_only_has_the_tag_is_not_the_base_image(state: Path) -> None:
    _images(state)
    done = run_with(state, "--print-base-ref", TAG_COMMENT="")  # e.g. pulled by tag from some registry
    calls = (state / "docker-calls").read_text().splitlines()
    assert f"pull -q debian:bookworm-slim@{PIN}" in calls  # it tried to get the pinned one
    assert any(call.startswith("debootstrap ") for call in calls)  # then to build its own
    assert done.returncode != 0 and done.stdout == ""


def test_build_image_passes_the_resolved_base_as_a_build_argument(state: Path) -> None:
    _images(state)
    done = run_with(state, "chainer-mnist", "byoc/chainer-mnist:x", script=SCRIPT.parent / "build-image.sh", PINNED="1")
    assert done.returncode == 0, done.stderr
    build = next(c for c in (state / "docker-calls").read_text().splitlines() if c.startswith("build "))
    assert f"--build-arg BASE_IMAGE=debian@{PIN}" in build


SOURCES_OF = """
set -euo pipefail
source "$SCRIPT"
root=$1
mkdir -p "$root/etc/apt/sources.list.d"
configure_sources "$root" http://mirror/debian http://mirror/debian-security
"""
FAKE_CHROOT = """#!/bin/bash
echo "chroot $*" >> "$STATE/docker-calls"
echo "E: Release file for http://mirror/debian/dists/bookworm/InRelease is expired (invalid since 200d 1h)."
exit 100
"""


@pytest.mark.parametrize(("snapshot", "ok"), [(None, False), ("0", False), ("1", True)])
def test_only_the_snapshot_switch_turns_off_the_valid_until_check(state: Path, snapshot: str | None, ok: bool) -> None:
    (state / "bin" / "chroot").write_text(FAKE_CHROOT)
    (state / "bin" / "chroot").chmod(0o755)
    env = {"SCRIPT": str(SCRIPT)} | ({"DEBIAN_SNAPSHOT": snapshot} if snapshot is not None else {})
    done = run_with(state, str(state / "root"), script=_write(state / "sources.sh", SOURCES_OF), **env)
    sources = (state / "root/etc/apt/sources.list.d/debian.sources").read_text()
    assert sources.count("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg") == 2
    if ok:
        assert done.returncode == 0, done.stderr
        assert sources.count("Check-Valid-Until: no") == 2
    else:
        assert done.returncode == 1
        assert "Check-Valid-Until" not in sources
        advice = "its signed Release files have expired; if it is a frozen snapshot, run again with DEBIAN_SNAPSHOT=1"
        assert advice in done.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
