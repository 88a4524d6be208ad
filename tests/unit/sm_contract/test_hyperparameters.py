from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from sm_contract import hyperparameters
from sm_contract.errors import ConfigurationError


@dataclass(frozen=True)
class HP:
    epochs: int = 3
    learning_rate: float = 0.1
    optimizer: Literal["sgd", "adam"] = "adam"
    shuffle: bool = True
    name: str = "x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, HP()),
        ({"epochs": "5"}, HP(epochs=5)),
        ({"epochs": "5.0"}, HP(epochs=5)),
        ({"learning-rate": "0.5", "learning_rate": "0.5"}, HP(learning_rate=0.5)),
        ({"learning_rate": "1e-3"}, HP(learning_rate=0.001)),
        ({"optimizer": '"sgd"'}, HP(optimizer="sgd")),  # SDK v2 framework estimators JSON-encode strings
        ({"optimizer": "SGD"}, HP(optimizer="sgd")),
        ({"shuffle": "True"}, HP(shuffle=True)),
        ({"shuffle": "False"}, HP(shuffle=False)),
        ({"shuffle": "false"}, HP(shuffle=False)),
        ({"shuffle": "0"}, HP(shuffle=False)),
        ({"name": "123"}, HP(name="123")),  # a str field keeps the raw text, not the decoded int
        ({"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://b/k"}, HP()),
        ({"_tuning_objective_metric": "val_accuracy"}, HP()),
    ],
)
def test_parse_converts_strings(raw: dict[str, str], expected: HP) -> None:
    assert hyperparameters.parse(HP, raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"epochs": "many"}, "hyperparameter 'epochs'='many' is not a valid int"),
        ({"epochs": "2.5"}, "not a valid int"),
        ({"epochs": "true"}, "not a valid int"),
        ({"learning-rate": "fast"}, "not a valid float"),
        ({"optimizer": "rmsprop"}, "not a valid sgd | adam"),
        ({"shuffle": "maybe"}, "not a valid bool"),
        ({"epoch": "3"}, "unknown hyperparameter(s) 'epoch'"),
    ],
)
def test_parse_rejects_bad_values(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        hyperparameters.parse(HP, raw)
    assert message in str(info.value)


def test_unknown_key_error_lists_known_keys() -> None:
    with pytest.raises(ConfigurationError) as info:
        hyperparameters.parse(HP, {"batchsize": "3"})
    assert "known: epochs, learning-rate, name, optimizer, shuffle" in str(info.value)


def test_validate_hook_runs() -> None:
    @dataclass(frozen=True)
    class Positive:
        n: int = 1

        def validate(self) -> None:
            if self.n < 1:
                raise ConfigurationError("n must be >= 1")

    with pytest.raises(ConfigurationError, match="n must be >= 1"):
        hyperparameters.parse(Positive, {"n": "0"})


def test_as_dict_and_reserved() -> None:
    assert hyperparameters.as_dict(HP()) == {
        "epochs": 3,
        "learning-rate": 0.1,
        "optimizer": "adam",
        "shuffle": True,
        "name": "x",
    }
    assert hyperparameters.reserved({"sagemaker_program": '"a.py"', "epochs": "1"}) == {"sagemaker_program": "a.py"}
