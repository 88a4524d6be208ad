"""Prepare the tutorial's MNIST channels from the IDX files in ``datasets/mnist``, with the standard library only.

Split as in the Step Functions tutorial: ``train.npz`` = all 60,000 training images, ``valid.npz`` = the first
9,000 test images, ``test.npy`` = the last 1,000 test images (images only, the batch transform input), with
their labels kept aside in ``test_labels.npy`` (and ``test.npz`` for the optional ``test`` channel). Images are
the rows of ``chainer.datasets.get_mnist()`` (the tutorial's call) as uint8, labels int32;
``tests/unit/chainer_mnist/test_prepare_mnist.py`` checks both against ``get_mnist()`` itself. The files are
NumPy's ``.npy``/``.npz`` format (version 1.0), written here so that ``make data`` needs no venv.

The four IDX ``.gz`` files come from ``datasets/mnist`` (shipped with the repository, checked against its
``SHA256SUMS``) or ``--idx-dir``.

    python3 scripts/prepare_mnist.py --out data/mnist [--idx-dir DIR]
"""

from __future__ import annotations

import argparse
import array
import gzip
import hashlib
import logging
import os
import struct
import sys
import zipfile
from pathlib import Path

logger = logging.getLogger("prepare_mnist")

REPO_IDX_DIR = Path(__file__).resolve().parent.parent / "datasets" / "mnist"
CHECKSUMS = "SHA256SUMS"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
N_VALID = 9000
PIXELS = 28 * 28


def read_idx(path: Path) -> tuple[bytes, tuple[int, ...]]:
    """An IDX file (gzip-compressed): magic, dimension sizes (big-endian uint32), then unsigned bytes."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    values = data[4 + 4 * ndim :]
    size = 1
    for dim in dims:
        size *= dim
    if len(values) != size:
        raise ValueError(f"{path.name}: {len(values)} values for dimensions {dims}")
    return values, dims


def npy(data: bytes, descr: str, shape: tuple[int, ...]) -> bytes:
    """An ``.npy`` file, format 1.0: magic, header length, the header padded to 64 bytes with a newline, data."""
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def images_npy(pixels: bytes) -> bytes:
    return npy(pixels, "|u1", (len(pixels) // PIXELS, PIXELS))


def labels_npy(labels: bytes) -> bytes:
    values = array.array("i", list(labels))  # one C int (int32) per uint8 label
    assert values.itemsize == 4
    if sys.byteorder == "big":
        values.byteswap()
    return npy(values.tobytes(), "<i4", (len(labels),))


def write_npz(path: Path, pixels: bytes, labels: bytes) -> None:
    """``images`` (N, 784) uint8 and ``labels`` (N,) int32, uncompressed as ``numpy.savez`` writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as npz:
        npz.writestr("images.npy", images_npy(pixels))
        npz.writestr("labels.npy", labels_npy(labels))


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


def prepare(idx_dir: Path, out: Path) -> dict[str, int]:
    (train_x, _), (train_y, _) = (read_idx(idx_dir / name) for name in IDX_FILES["train"])
    (test_x, _), (test_y, _) = (read_idx(idx_dir / name) for name in IDX_FILES["test"])
    cut = N_VALID * PIXELS
    write_npz(out / "train" / "train.npz", train_x, train_y)
    write_npz(out / "valid" / "valid.npz", test_x[:cut], test_y[:N_VALID])
    write_npz(out / "test" / "test.npz", test_x[cut:], test_y[N_VALID:])
    (out / "transform").mkdir(parents=True, exist_ok=True)
    (out / "transform" / "test.npy").write_bytes(images_npy(test_x[cut:]))
    (out / "test_labels.npy").write_bytes(labels_npy(test_y[N_VALID:]))
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
    counts = prepare(args.idx_dir, args.out)
    logger.info("wrote %s: %s", args.out, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
