"""Training data: the ``features.csv``/``labels.csv`` pair of a channel, the label index and the splits."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sm_contract import channels
from sm_contract.environment import TrainingEnv
from sm_contract.errors import DataError

FEATURES_FILE, FEATURE_COLUMN = "features.csv", "feature"
LABELS_FILE, LABEL_COLUMN = "labels.csv", "label"


@dataclass(frozen=True)
class TextSet:
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)


def read_column(path: Path, column: str, where: str) -> list[str]:
    """One column of a CSV file with a header row; DataError names the channel, file and problem."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise DataError(f"{where} is empty (expected a header row with column '{column}')")
            if column not in reader.fieldnames:
                raise DataError(f"{where} has no column '{column}' (columns: {', '.join(reader.fieldnames)})")
            values = [row[column] or "" for row in reader]
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not valid UTF-8 (byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{where} is not a readable CSV file: {exc}") from None
    if not values:
        raise DataError(f"{where} has a header but no rows")
    return values


def load_channel(env: TrainingEnv, channel: str, *, required: bool = True) -> TextSet | None:
    features_path = channels.channel_file(env, channel, FEATURES_FILE, required=required)
    if features_path is None:
        return None
    labels_path = channels.channel_file(env, channel, LABELS_FILE)
    assert labels_path is not None  # required once the channel exists
    texts = read_column(features_path, FEATURE_COLUMN, f"channel '{channel}' file '{FEATURES_FILE}'")
    labels = read_column(labels_path, LABEL_COLUMN, f"channel '{channel}' file '{LABELS_FILE}'")
    if len(texts) != len(labels):
        raise DataError(
            f"channel '{channel}': {FEATURES_FILE} has {len(texts)} rows but {LABELS_FILE} has {len(labels)}; "
            "they must match row for row"
        )
    blank = [i + 2 for i, label in enumerate(labels) if not label.strip()]
    if blank:
        raise DataError(f"channel '{channel}' file '{LABELS_FILE}': empty label on line(s) {blank[:5]}")
    return TextSet(tuple(texts), tuple(label.strip() for label in labels))


def label_index(labels: Sequence[str]) -> list[str]:
    """The sorted distinct labels: index k is the k-th label, whatever the row order."""
    return sorted(set(labels))


def encode_labels(labels: Sequence[str], index: Sequence[str], where: str) -> np.ndarray:
    position = {label: k for k, label in enumerate(index)}
    unknown = sorted(set(labels) - set(position))
    if unknown:
        raise DataError(f"{where}: label(s) {unknown[:5]} do not occur in the training data")
    return np.asarray([position[label] for label in labels], dtype=np.int32)


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, validation) row indices holding ``fraction`` of every class (at least one when > 0)."""
    rng = np.random.RandomState(seed)
    train, valid = [], []
    for k in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == k))
        n = round(len(rows) * fraction)
        if fraction > 0 and len(rows) > 1:
            n = min(max(n, 1), len(rows) - 1)
        valid.extend(rows[:n])
        train.extend(rows[n:])
    return rng.permutation(np.asarray(train, dtype=np.int64)), rng.permutation(np.asarray(valid, dtype=np.int64))
