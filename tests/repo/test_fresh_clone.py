"""What a user's fresh clone holds: everything `make data` needs, with no sibling ../shared folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from utils.data import REPO


def test_a_clone_without_shared_prepares_the_tutorials_mnist(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    assert not (clone.parent / "shared").exists()
    assert "../shared" not in (clone / "Makefile").read_text()
    environ = {**os.environ, "CHAINER_DATASET_ROOT": str(tmp_path / "chainer-cache")}
    environ.pop("MNIST_IDX_DIR", None)
    result = subprocess.run(
        [sys.executable, "scripts/prepare_mnist.py", "--out", str(tmp_path / "mnist")],
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
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts/prepare_mnist.py"), "--out", str(tmp_path / "out"), "--idx-dir", str(idx)],
        env={**os.environ, "CHAINER_DATASET_ROOT": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "t10k-labels-idx1-ubyte.gz does not match its SHA-256" in result.stderr
