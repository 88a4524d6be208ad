"""Small real MNIST subsets for tests, from the prepared data folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def mnist_subset_bytes(mnist_dir: Path, split: str, n: int) -> bytes:
    """The first ``n`` images and labels of a prepared split, as an .npz file's bytes."""
    with np.load(mnist_dir / split / f"{split}.npz") as npz:
        images, labels = npz["images"][:n], npz["labels"][:n]
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    return buffer.getvalue()
