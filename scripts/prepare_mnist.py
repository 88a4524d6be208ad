"""Prepare the tutorial's MNIST channels with ``chainer.datasets.get_mnist()``.

Split as in the Step Functions tutorial: ``train.npz`` = all 60,000 training images, ``valid.npz`` = the first
9,000 test images, ``test.npy`` = the last 1,000 test images (images only, the batch transform input), with
their labels kept aside in ``test_labels.npy`` (and ``test.npz`` for the optional ``test`` channel).

The four MNIST IDX ``.gz`` files come from ``datasets/mnist`` (shipped with the repository, checked against its
``SHA256SUMS``) or ``--idx-dir``; they seed Chainer's dataset cache, so ``get_mnist()`` itself runs unchanged
and never downloads (its download host has refused downloads since 2024).

    python scripts/prepare_mnist.py --out data/mnist [--idx-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import logging
import os
import struct
import sys
from pathlib import Path

import numpy as np

logger = logging.getLogger("prepare_mnist")

REPO_IDX_DIR = Path(__file__).resolve().parent.parent / "datasets" / "mnist"
CHECKSUMS = "SHA256SUMS"
IDX_FILES = {
    "train.npz": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test.npz": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
N_VALID = 9000


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed): magic, dimension sizes (big-endian int32), then uint8 data."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path.name}: {array.size} values for dimensions {dims}")
    return array.reshape(dims)


def verify(idx_dir: Path) -> list[str]:
    """Problems with the IDX files of ``idx_dir``: missing files, or a checksum that differs from ``SHA256SUMS``."""
    names = [name for pair in IDX_FILES.values() for name in pair]
    problems = [f"{idx_dir / name} is missing" for name in names if not (idx_dir / name).is_file()]
    sums = idx_dir / CHECKSUMS
    if problems or not sums.is_file():
        return problems
    for line in sums.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        path = idx_dir / name
        if name in names and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{path} does not match its SHA-256 in {sums}")
    return problems


def seed_chainer_cache(idx_dir: Path) -> None:
    """Write Chainer's MNIST cache (``pfnet/chainer/mnist/{train,test}.npz``: ``x`` (N, 784) and ``y``, uint8)."""
    from chainer.dataset import download

    root = Path(download.get_dataset_directory("pfnet/chainer/mnist"))
    for name, (images_file, labels_file) in IDX_FILES.items():
        target = root / name
        if target.is_file():
            continue
        images = read_idx(idx_dir / images_file)
        labels = read_idx(idx_dir / labels_file)
        np.savez_compressed(target, x=images.reshape(len(images), -1), y=labels)
        logger.info("seeded %s from %s", target, idx_dir)


def prepare(out: Path) -> dict[str, int]:
    import chainer

    train, test = chainer.datasets.get_mnist()  # the tutorial's own call
    train_x, train_y = (np.asarray(a) for a in train._datasets)
    test_x, test_y = (np.asarray(a) for a in test._datasets)

    def to_uint8(x: np.ndarray) -> np.ndarray:  # get_mnist scales to [0, 1]; keep files 4x smaller
        return np.rint(x * 255).astype(np.uint8)

    splits = {
        "train/train.npz": (train_x, train_y),
        "valid/valid.npz": (test_x[:N_VALID], test_y[:N_VALID]),
        "test/test.npz": (test_x[N_VALID:], test_y[N_VALID:]),
    }
    for rel, (x, y) in splits.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=to_uint8(x), labels=y.astype(np.int32))
    (out / "transform").mkdir(parents=True, exist_ok=True)
    np.save(out / "transform" / "test.npy", to_uint8(test_x[N_VALID:]))
    np.save(out / "test_labels.npy", test_y[N_VALID:].astype(np.int32))
    return {"train": len(train_y), "valid": N_VALID, "test": len(test_y) - N_VALID}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/mnist"))
    parser.add_argument("--idx-dir", type=Path, default=Path(os.environ.get("MNIST_IDX_DIR") or REPO_IDX_DIR))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problems = verify(args.idx_dir)
    if problems:
        for problem in problems:
            logger.error(problem)
        return 1
    seed_chainer_cache(args.idx_dir)
    counts = prepare(args.out)
    logger.info("wrote %s: %s", args.out, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
