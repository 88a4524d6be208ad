"""A local run's data in the stand-in bucket, and its batch transform scored, as the image's descriptor says.

The run's data folder holds a folder per channel of the descriptor (``data/mnist/train``, ``datasets/knbc/test``),
and for a batch-transform workflow the transform input's folder and the labels file, under the names the
descriptor gives them (``transform/``, ``test_labels.npy``). A channel is staged file by file, cut to the run's
size: ``.npz`` archives to their first N rows of every array, ``.csv`` files to their header and first N lines;
other files are copied whole.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from byoc_pipelines.descriptor import Batch, Descriptor
from byoc_pipelines.local.s3 import S3Folder


def channel_sizes(names: list[str], train_size: int) -> dict[str, int]:
    """``train`` gets the run's size, every other channel a fifth of it (at least 100 examples)."""
    return {name: train_size if name == "train" else max(train_size // 5, 100) for name in names}


def _cut(path: Path, size: int) -> bytes:
    if path.suffix == ".npz":
        with np.load(path) as npz:
            buffer = io.BytesIO()
            np.savez(buffer, **{key: npz[key][:size] for key in npz.files})
        return buffer.getvalue()
    if path.suffix == ".csv":
        lines = path.read_bytes().splitlines(keepends=True)
        return b"".join(lines[: size + 1])  # the header and the first `size` lines
    return path.read_bytes()


def stage(s3: S3Folder, data: Path, given: Mapping[str, Any], train_size: int, image: Descriptor) -> None:
    """Every channel of the execution input, cut to size, and a batch-transform workflow's input whole."""
    uris = {channel["name"]: channel["uri"] for channel in given["channels"]}
    for name, size in channel_sizes(list(uris), train_size).items():
        folder = data / name
        if not folder.is_dir():
            if image.channel(name).required:
                raise FileNotFoundError(f"channel '{name}' of {image.name}: no folder {folder}")
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            s3.put_bytes(_cut(path, size), uris[name] + path.name)
    if image.outcome == "batch-transform" and image.batch.input is not None:
        for path in sorted(p for p in (data / image.batch.input.name).iterdir() if p.is_file()):
            s3.put(path, given["transform_input"] + path.name)


def transform_outputs(s3: S3Folder, output: Mapping[str, Any], data: Path, batch: Batch) -> list[Path]:
    """The transform's output files, ``<input file>.out`` for each file of the input folder."""
    if batch.input is None:
        return []
    prefix = output["transform"]["S3OutputPath"].rstrip("/")
    inputs = sorted(p.name for p in (data / batch.input.name).iterdir() if p.is_file())
    return [s3.path(f"{prefix}/{name}.out") for name in inputs]


def _labels(path: Path) -> list[str]:
    if path.suffix == ".npy":
        return [str(label) for label in np.load(path, allow_pickle=False).tolist()]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def accuracy(outputs: list[Path], labels_file: Path) -> float:
    """Share of the outputs' lines equal to the labels (a ``.npy`` array or a text file, one label per line)."""
    predicted = [line.strip() for path in outputs for line in path.read_text().splitlines() if line.strip()]
    labels = _labels(labels_file)
    if len(predicted) != len(labels):
        shown = ", ".join(str(path) for path in outputs)
        raise ValueError(f"{shown}: {len(predicted)} labels, expected {len(labels)} ({labels_file})")
    return float(np.mean([p == label for p, label in zip(predicted, labels, strict=True)]))
