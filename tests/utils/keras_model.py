"""The keras-text test model every keras test layer trains once per session (in process, in the image, in local
mode): a slice of the KNB corpus, small hyperparameters, and the obvious sentences it must get right.

``bench/keras_text_fixture.py`` measures that this model is right on them for several seeds, and how long it takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from utils.data import knbc_slice

TRAIN_ROWS, TEST_ROWS = 1500, 200
# The default model (Sudachi words, frozen chiVe vectors) made small: few epochs, small LSTMs, short inputs.
HYPERPARAMETERS = {"epochs": "4", "hidden": "16", "input-len": "32"}
# A job whose outcome is not the model's quality (checkpoints, settings, the embeddings it starts from) trains on
# fewer rows (every label, a dozen batches an epoch) and shorter inputs: the LSTMs are unrolled over input-len, so
# their graph, whose tracing is most of a small job's CPU, is a quarter the size.
SMALL_ROWS = 400
SMALL_HYPERPARAMETERS = {**HYPERPARAMETERS, "input-len": "8"}
LABELS = ("グルメ", "スポーツ", "京都", "携帯電話")  # sorted: the model's label order
# The demo's sentences, one per theme: a model that learnt the themes gets every one right.
OBVIOUS = {
    "電波が悪い": "携帯電話",
    "このラーメンは美味しい": "グルメ",
    "清水寺の紅葉がきれいだった": "京都",
    "昨日の試合でゴールを決めた": "スポーツ",
}


def channels() -> dict[str, dict[str, bytes]]:
    """``train`` and ``test`` channel files of the slice."""
    return {"train": knbc_slice("train", TRAIN_ROWS), "test": knbc_slice("test", TEST_ROWS)}


def small_channels() -> dict[str, dict[str, bytes]]:
    """A ``train`` channel of ``SMALL_ROWS`` rows, no ``test``."""
    return {"train": knbc_slice("train", SMALL_ROWS)}


def assert_ranked(answer: Sequence[Mapping[str, Any]]) -> None:
    """A ranked list: every label once, most probable first, probabilities summing to 1."""
    assert sorted(item["label"] for item in answer) == sorted(LABELS), answer
    probabilities = [item["prob"] for item in answer]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-3, answer


def assert_obvious_right(answers: Sequence[Sequence[Mapping[str, Any]]]) -> None:
    """The ranked answers to ``OBVIOUS``'s sentences, in order, each with its theme on top."""
    assert len(answers) == len(OBVIOUS)
    for answer in answers:
        assert_ranked(answer)
    got = {text: answer[0]["label"] for text, answer in zip(OBVIOUS, answers, strict=True)}
    wrong = {text: f"{label} (expected {OBVIOUS[text]})" for text, label in got.items() if label != OBVIOUS[text]}
    assert not wrong, f"wrong answers: {wrong}"
