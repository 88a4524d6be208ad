"""scripts/prepare_mnist.py (standard library only) against the tutorial's own ``chainer.datasets.get_mnist()``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import chainer
import numpy as np
from chainer.dataset import download

from utils.data import REPO

IDX_DIR = REPO / "datasets" / "mnist"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prepare_mnist", REPO / "scripts" / "prepare_mnist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get_mnist(prepare: ModuleType, root: Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``get_mnist()`` offline: Chainer's cache (``x`` (N, 784) and ``y``, uint8) written from the same IDX files."""
    cache = root / "pfnet" / "chainer" / "mnist"
    cache.mkdir(parents=True)
    for split, (images_file, labels_file) in prepare.IDX_FILES.items():
        images, dims = prepare.read_idx(IDX_DIR / images_file)
        labels, _ = prepare.read_idx(IDX_DIR / labels_file)
        x = np.frombuffer(images, np.uint8).reshape(dims[0], -1)
        np.savez(cache / f"{split}.npz", x=x, y=np.frombuffer(labels, np.uint8))
    previous = download.get_dataset_root()
    download.set_dataset_root(str(root))
    try:
        train, test = chainer.datasets.get_mnist()  # the tutorial's call: [0, 1] floats and int32 labels
    finally:
        download.set_dataset_root(previous)
    return tuple((np.asarray(x), np.asarray(y)) for x, y in (train._datasets, test._datasets))


def test_the_channels_hold_the_rows_get_mnist_returns(tmp_path: Path) -> None:
    prepare = _script()
    counts = prepare.prepare(IDX_DIR, tmp_path / "mnist")
    assert counts == {"train": 60000, "valid": 9000, "test": 1000}
    (train_x, train_y), (test_x, test_y) = _get_mnist(prepare, tmp_path / "chainer")

    def expect(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.rint(x * 255).astype(np.uint8), y.astype(np.int32)

    expected = {
        "train/train.npz": expect(train_x, train_y),
        "valid/valid.npz": expect(test_x[:9000], test_y[:9000]),
        "test/test.npz": expect(test_x[9000:], test_y[9000:]),
    }
    for name, (images, labels) in expected.items():
        with np.load(tmp_path / "mnist" / name) as npz:
            assert npz["images"].dtype == np.uint8 and npz["labels"].dtype == np.int32
            np.testing.assert_array_equal(npz["images"], images, err_msg=name)
            np.testing.assert_array_equal(npz["labels"], labels, err_msg=name)
    np.testing.assert_array_equal(np.load(tmp_path / "mnist/transform/test.npy"), expected["test/test.npz"][0])
    np.testing.assert_array_equal(np.load(tmp_path / "mnist/test_labels.npy"), expected["test/test.npz"][1])
