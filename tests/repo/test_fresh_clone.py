"""What a user's fresh clone holds: everything `make data` needs, with no sibling ../shared folder and no venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from utils.data import REPO


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone at the commit under test (a clone of a git worktree would otherwise check out the main HEAD), one
    for the module: its tests only read it."""
    clone = tmp_path_factory.mktemp("fresh") / "clone"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", head.stdout.strip()], cwd=clone, check=True)
    return clone


def test_no_tracked_file_reaches_outside_the_clone(clone: Path) -> None:
    found = subprocess.run(
        ["git", "grep", "-l", "-F", "../shared", "--", ":!*.md", f":!{Path(__file__).relative_to(REPO)}"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, f"tracked files naming ../shared: {found.stdout.split()}"


def test_a_clone_prepares_the_tutorials_mnist_with_the_standard_library_only(clone: Path, tmp_path: Path) -> None:
    environ = {key: value for key, value in os.environ.items() if key != "MNIST_IDX_DIR"}
    result = subprocess.run(  # -S -I: no site-packages, so NumPy (or anything else installed) cannot be used
        [sys.executable, "-S", "-I", "scripts/prepare_mnist.py", "--out", str(tmp_path / "mnist")],
        cwd=clone,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "mnist/train/train.npz") as train:
        assert train["images"].shape == (60000, 784) and train["labels"].shape == (60000,)
    assert np.load(tmp_path / "mnist/transform/test.npy").shape == (1000, 784)


def test_a_tampered_idx_file_is_refused(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    idx.mkdir()
    for source in (REPO / "datasets/mnist").iterdir():
        (idx / source.name).write_bytes(source.read_bytes())
    (idx / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    script = REPO / "scripts/prepare_mnist.py"
    result = subprocess.run(
        [sys.executable, "-S", str(script), "--out", str(tmp_path / "out"), "--idx-dir", idx],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "t10k-labels-idx1-ubyte.gz does not match its SHA-256" in result.stderr
    assert not (tmp_path / "out").exists()
