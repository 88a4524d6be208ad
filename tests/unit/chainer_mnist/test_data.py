from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from chainer_mnist.data import as_images, load_split
from sm_contract.errors import DataError


@pytest.mark.parametrize("shape", [(3, 784), (3, 28, 28), (3, 1, 28, 28), (784,)])
def test_accepted_shapes_become_n_by_784(shape: tuple[int, ...]) -> None:
    images = as_images(np.full(shape, 255, dtype=np.uint8))
    assert images.shape == (int(np.prod(shape)) // 784, 784)
    assert images.dtype == np.float32 and images.flags.c_contiguous
    assert images.max() == 1.0


def test_floats_are_kept_and_checked() -> None:
    x = np.random.default_rng(0).random((2, 784))
    assert np.allclose(as_images(x), x)
    with pytest.raises(ValueError, match=r"float pixels must be in \[0, 1\]"):
        as_images(x * 255)
    with pytest.raises(ValueError, match="NaN"):
        as_images(np.full((1, 784), np.nan))


@pytest.mark.parametrize("shape", [(3, 783), (0, 784), (2, 2, 28, 28), (3, 28, 27)])
def test_wrong_shapes_name_the_accepted_ones(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected \(N, 784\), \(N, 28, 28\) or \(N, 1, 28, 28\)"):
        as_images(np.zeros(shape, dtype=np.uint8))


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "train.npz"
    np.savez(path, **arrays)
    return path


def test_load_split(tmp_path: Path) -> None:
    split = load_split(_npz(tmp_path, images=np.zeros((4, 28, 28), np.uint8), labels=np.arange(4)), "train")
    assert len(split) == 4 and split.images.shape == (4, 784) and split.labels.dtype == np.int32


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((4, 784), np.uint8)}, "channel 'train' file 'train.npz' lacks array(s) ['labels']"),
        ({"images": np.zeros((4, 784), np.uint8), "labels": np.arange(3)}, "4 images but 3 labels"),
        ({"images": np.zeros((4, 784), np.uint8), "labels": np.array([0, 1, 2, 10])}, "labels must be in [0, 9]"),
        ({"images": np.zeros((4, 784), np.uint8), "labels": np.zeros(4)}, "labels must be a 1-D integer array"),
        ({"images": np.zeros((4, 10), np.uint8), "labels": np.arange(4)}, "images have shape (4, 10)"),
    ],
)
def test_bad_npz_names_channel_file_and_problem(tmp_path: Path, arrays: dict, message: str) -> None:
    with pytest.raises(DataError) as info:
        load_split(_npz(tmp_path, **arrays), "train")
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "train.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match=r"channel 'train' file 'train\.npz' is not a readable \.npz archive"):
        load_split(path, "train")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    path.write_bytes(buffer.getvalue())  # a .npy, not an .npz
    with pytest.raises(DataError, match=r"holds a single \.npy array"):
        load_split(path, "train")
