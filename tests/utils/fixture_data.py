"""Test data in one place: a SageMaker ``/opt/ml`` tree, slices of the KNB corpus, MNIST subsets, a free port."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KNBC_DIR = REPO / "datasets" / "knbc"
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", REPO / "data" / "mnist"))  # `make data` prepares it

Files = Mapping[str, bytes | Path]  # file name -> content, or a file to copy


def write_files(folder: Path, files: Files) -> Path:
    """``folder`` with ``files`` in it (a channel folder, a ``file://`` input of local mode)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return folder


def write_opt_ml(
    root: Path,
    hyperparameters: Mapping[str, object] | None = None,
    channels: Mapping[str, Files] | None = None,
    hosts: tuple[str, ...] = ("algo-1",),
) -> Path:
    """The ``/opt/ml`` tree SageMaker mounts for training: configs (hyperparameters as strings), channels, folders."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    hps = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (hyperparameters or {}).items()}
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    data_config = {}
    for channel, files in (channels or {}).items():
        write_files(root / "input" / "data" / channel, files)
        data_config[channel] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    resources = {"current_host": hosts[0], "hosts": list(hosts), "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    for sub in ("model", "output", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def knbc_slice(split: str, rows: int, knbc_dir: Path = KNBC_DIR) -> dict[str, bytes]:
    """The first ``rows`` rows (plus header) of ``features.csv`` and ``labels.csv`` of a split."""
    files = {}
    for name in ("features.csv", "labels.csv"):
        lines = (knbc_dir / split / name).read_bytes().splitlines(keepends=True)
        files[name] = b"".join(lines[: rows + 1])
    return files


def mnist_subset_bytes(mnist_dir: Path, split: str, n: int) -> bytes:
    """The first ``n`` images and labels of a prepared split, as an .npz file's bytes."""
    with np.load(mnist_dir / split / f"{split}.npz") as npz:
        images, labels = npz["images"][:n], npz["labels"][:n]
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    return buffer.getvalue()


def mnist_channels(mnist_dir: Path, sizes: Mapping[str, int]) -> dict[str, dict[str, bytes]]:
    """``{"train": {"train.npz": ...}, ...}``: the first ``sizes[split]`` examples of each split."""
    return {split: {f"{split}.npz": mnist_subset_bytes(mnist_dir, split, n)} for split, n in sizes.items()}


def random_mnist_bytes(n: int, seed: int) -> bytes:
    """An MNIST-shaped .npz of noise: enough for a container to train on when accuracy does not matter."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, images=rng.integers(0, 256, (n, 784), dtype=np.uint8), labels=rng.integers(0, 10, n))
    return buffer.getvalue()


def free_port() -> int:
    """A loopback port nobody listens on right now, for a server that must be told its port before it starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
