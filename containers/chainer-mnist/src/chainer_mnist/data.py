"""MNIST arrays: validation and normalisation shared by training (npz channels) and serving (requests)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainer_mnist.model import IMAGE_SIDE, N_CLASSES
from sm_contract.errors import DataError

PIXELS = IMAGE_SIDE * IMAGE_SIDE
ACCEPTED_SHAPES = "(N, 784), (N, 28, 28) or (N, 1, 28, 28)"


def as_images(array: np.ndarray) -> np.ndarray:
    """Images as contiguous float32 (N, 784) in [0, 1]; raises ValueError saying what is wrong.

    uint8 (and other integer) pixels are scaled by 1/255; floats must already be in [0, 1].
    """
    array = np.asarray(array)
    if array.ndim == 1 and array.shape[0] == PIXELS:
        array = array[np.newaxis]  # a single image
    if (
        array.ndim not in (2, 3, 4)
        or array.shape[0] == 0
        or array.shape[1:]
        not in (
            (PIXELS,),
            (IMAGE_SIDE, IMAGE_SIDE),
            (1, IMAGE_SIDE, IMAGE_SIDE),
        )
    ):
        raise ValueError(f"images have shape {array.shape}; expected {ACCEPTED_SHAPES}")
    flat = array.reshape(array.shape[0], PIXELS)
    if np.issubdtype(flat.dtype, np.integer):
        if flat.min() < 0 or flat.max() > 255:
            raise ValueError("integer pixels must be in [0, 255]")
        return np.ascontiguousarray(flat, dtype=np.float32) / np.float32(255)
    if not np.issubdtype(flat.dtype, np.floating):
        raise ValueError(f"images have dtype {flat.dtype}; expected uint8 or float")
    flat = np.ascontiguousarray(flat, dtype=np.float32)
    if not np.isfinite(flat).all():
        raise ValueError("images contain NaN or infinity")
    if flat.min() < 0.0 or flat.max() > 1.0:
        raise ValueError(f"float pixels must be in [0, 1] (got [{flat.min():g}, {flat.max():g}])")
    return flat


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # float32 (N, 784)
    labels: np.ndarray  # int32 (N,)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_split(path: Path, channel: str) -> Split:
    """Read ``images`` and ``labels`` from an npz file; every problem is a DataError naming channel and file."""
    where = f"channel '{channel}' file '{path.name}'"
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{where} holds a single .npy array; expected an .npz with 'images' and 'labels'")
        with loaded as archive:
            keys = set(archive.files)
            missing = {"images", "labels"} - keys
            if missing:
                raise DataError(f"{where} lacks array(s) {sorted(missing)} (has {sorted(keys)})")
            raw_images, raw_labels = archive["images"], archive["labels"]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{where} is not a readable .npz archive: {exc}") from None
    try:
        images = as_images(raw_images)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
    labels = np.asarray(raw_labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be a 1-D integer array (got {labels.dtype} {labels.shape})")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise DataError(f"{where}: labels must be in [0, {N_CLASSES - 1}]")
    return Split(images, labels.astype(np.int32))
