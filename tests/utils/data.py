"""Test data in one place: SageMaker-like /opt/ml trees, slices of the KNB corpus, MNIST subsets, free ports."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KNBC_DIR = REPO / "datasets" / "knbc"
KNBC_FILES = ("features.csv", "labels.csv")

ChannelFiles = Mapping[str, bytes | Path]


def write_opt_ml(
    root: Path,
    hyperparameters: Mapping[str, Any] | None = None,
    channels: Mapping[str, ChannelFiles] | None = None,
    *,
    hosts: tuple[str, ...] = ("algo-1",),
    current_host: str | None = None,
) -> Path:
    """An /opt/ml tree as SageMaker lays it out: config files (every hyperparameter a string), channels, folders."""
    config = write_hyperparameters(root / "input" / "config", hyperparameters or {})
    data_config = {}
    for channel, files in (channels or {}).items():
        folder = root / "input" / "data" / channel
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
        data_config[channel] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    resources = {"current_host": current_host or hosts[0], "hosts": list(hosts), "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    for sub in ("model", "output", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def write_hyperparameters(config: Path, hyperparameters: Mapping[str, Any]) -> Path:
    """``hyperparameters.json`` in a config folder, every value a string as SageMaker writes it; the folder."""
    config.mkdir(parents=True, exist_ok=True)
    hps = {k: v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()}
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    return config


def set_hyperparameters(root: Path, hyperparameters: Mapping[str, Any]) -> None:
    """Replace the hyperparameters of an existing tree (e.g. more epochs for a resumed job)."""
    write_hyperparameters(root / "input" / "config", hyperparameters)


def knbc_slice(split: str, rows: int) -> dict[str, bytes]:
    """The first ``rows`` rows (plus header) of ``features.csv`` and ``labels.csv`` of a split of the corpus."""
    files = {}
    for name in KNBC_FILES:
        lines = (KNBC_DIR / split / name).read_bytes().splitlines(keepends=True)
        files[name] = b"".join(lines[: rows + 1])
    return files


def write_knbc_slice(target: Path, split: str, rows: int) -> Path:
    """A channel folder holding a slice of the corpus (for local mode, which mounts folders)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, content in knbc_slice(split, rows).items():
        (target / name).write_bytes(content)
    return target


def mnist_subset_bytes(mnist_dir: Path, split: str, n: int) -> bytes:
    """The first ``n`` images and labels of a prepared split, as an .npz file's bytes."""
    with np.load(mnist_dir / split / f"{split}.npz") as npz:
        images, labels = npz["images"][:n], npz["labels"][:n]
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    return buffer.getvalue()


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers that must be told a number up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
