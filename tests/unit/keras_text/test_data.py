"""Reading the CSV channels, the label index and the validation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_text.training import data
from sm_contract.environment import TrainingEnv
from sm_contract.errors import DataError


def _env(fake_opt_ml, features: bytes, labels: bytes) -> TrainingEnv:
    root = fake_opt_ml({}, {"train": {"features.csv": features, "labels.csv": labels}})
    return TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})


def test_label_index_is_sorted_and_independent_of_row_order() -> None:
    labels = ["携帯電話", "グルメ", "京都", "スポーツ", "グルメ"]
    assert data.label_index(labels) == data.label_index(list(reversed(labels))) == sorted(set(labels))
    assert data.encode_labels(["京都", "グルメ"], data.label_index(labels), "x").tolist() == [2, 0]


def test_unknown_test_label_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"channel 'test': label\(s\) \['野球'\]"):
        data.encode_labels(["野球"], ["京都"], "channel 'test'")


def test_load_channel_reads_both_columns(fake_opt_ml) -> None:
    env = _env(fake_opt_ml, "feature\n電波が悪い\n金閣寺\n".encode(), "label\n携帯電話\n京都\n".encode())
    loaded = data.load_channel(env, "train")
    assert loaded == data.TextSet(("電波が悪い", "金閣寺"), ("携帯電話", "京都"))


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (b"feature\na\nb\n", b"label\nx\n", "features.csv has 2 rows but labels.csv has 1"),
        (b"text\na\n", b"label\nx\n", "file 'features.csv' has no column 'feature' \\(columns: text\\)"),
        (b"", b"label\nx\n", "file 'features.csv' is empty"),
        (b"feature\n", b"label\n", "file 'features.csv' has a header but no rows"),
        (b"feature\n\xff\n", b"label\nx\n", "file 'features.csv' is not valid UTF-8"),
        (b"feature\na\n", b"label\n \n", "empty label on line"),
    ],
)
def test_bad_files_name_channel_file_and_problem(fake_opt_ml, features: bytes, labels: bytes, message: str) -> None:
    with pytest.raises(DataError, match=f"channel 'train'.*{message}"):
        data.load_channel(_env(fake_opt_ml, features, labels), "train")


def test_missing_labels_file_lists_the_channel(fake_opt_ml, tmp_path: Path) -> None:
    root = fake_opt_ml({}, {"train": {"features.csv": b"feature\na\n"}})
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    with pytest.raises(DataError, match=r"channel 'train': file 'labels\.csv' not found"):
        data.load_channel(env, "train")


def test_stratified_split_is_shuffled_seeded_and_keeps_every_class() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, valid = data.stratified_split(y, 0.1, seed=3)
    again = data.stratified_split(y, 0.1, seed=3)
    assert train.tolist() == again[0].tolist() and valid.tolist() == again[1].tolist()
    assert sorted(np.bincount(y[valid]).tolist()) == [2, 3, 5]
    assert sorted([*train.tolist(), *valid.tolist()]) == list(range(100))
    assert valid.tolist() != sorted(valid.tolist())  # not the tail, not in order
