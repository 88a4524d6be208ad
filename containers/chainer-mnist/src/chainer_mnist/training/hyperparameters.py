"""The built-in trainer's hyperparameters: defaults, types and bounds (every key a string in SageMaker's file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sm_contract import hyperparameters
from sm_contract.errors import ConfigurationError


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 20
    batch_size: int = 100
    learning_rate: float = 0.01  # momentum SGD's step size
    optimizer: Literal["sgd", "adam"] = "adam"
    alpha: float = 0.001  # Adam's step size (Chainer's name)
    model: Literal["mlp", "cnn"] = "mlp"
    units: int = 1000
    seed: int = 0

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "units"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be >= 1")
        for name in ("learning_rate", "alpha"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be > 0")
