"""The built-in trainer's hyperparameters: the training-schedule and model knobs, their types and bounds."""

from __future__ import annotations

import numpy as np
import pytest

from keras_text.training.hyperparameters import Hyperparameters
from keras_text.training.loop import LoopSettings, balanced_weights
from sm_contract import hyperparameters
from sm_contract.errors import ConfigurationError


def test_the_knobs_parse_from_sagemakers_strings() -> None:
    hp = hyperparameters.parse(
        Hyperparameters,
        {
            "attention-width": "8",
            "mask-padding": "True",
            "class-weights": "Balanced",
            "fine-tune-epochs": "3",
            "fine-tune-learning-rate": "3e-4",
            "learning-rate-decay": "0.8",
            "patience": "5",
        },
    )
    assert (hp.attention_width, hp.mask_padding, hp.class_weights) == (8, True, "balanced")
    assert (hp.fine_tune_epochs, hp.fine_tune_learning_rate, hp.learning_rate_decay, hp.patience) == (3, 3e-4, 0.8, 5)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("attention-width", "-1", "'attention-width' must be >= 0"),
        ("fine-tune-epochs", "-2", "'fine-tune-epochs' must be >= 0"),
        ("patience", "0", "'patience' must be >= 1"),
        ("fine-tune-learning-rate", "0", "'fine-tune-learning-rate' must be > 0"),
        ("learning-rate-decay", "0", r"'learning-rate-decay' must be in \(0, 1\]"),
        ("learning-rate-decay", "1.5", r"'learning-rate-decay' must be in \(0, 1\]"),
        ("learning-rate-decay", "NaN", r"'learning-rate-decay' must be in \(0, 1\]"),
        ("class-weights", "inverse", r"'class-weights'='inverse' is not a valid none \| balanced"),
        ("mask-padding", "maybe", "'mask-padding'='maybe' is not a valid bool"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        hyperparameters.parse(Hyperparameters, {key: value})


def test_the_learning_rate_decays_per_epoch_from_each_phases_start() -> None:
    settings = LoopSettings(10, 32, 0, learning_rate=0.004, learning_rate_decay=0.5, fine_tune_learning_rate=1e-4)
    assert [settings.rate(epoch, None) for epoch in (1, 2, 3)] == [0.004, 0.002, 0.001]
    assert [settings.rate(epoch, 6) for epoch in (6, 7)] == [1e-4, 5e-5]
    assert LoopSettings(10, 32, 0).rate(9, None) == 0.001  # no decay by default


def test_balanced_weights_make_every_label_weigh_the_same() -> None:
    y = np.array([0, 0, 0, 1, 2, 2], dtype=np.int32)
    weights = balanced_weights(y, 3)
    assert weights == pytest.approx((6 / 9, 2.0, 1.0))
    totals = [weights[k] * np.sum(y == k) for k in range(3)]
    assert totals == pytest.approx([2.0, 2.0, 2.0])
