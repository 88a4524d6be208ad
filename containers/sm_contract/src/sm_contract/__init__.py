"""Shared implementation of the SageMaker bring-your-own container contract."""

from sm_contract.environment import ServingEnv, TrainingEnv
from sm_contract.errors import (
    ChannelNotFoundError,
    ConfigurationError,
    ContractError,
    DataError,
    InvalidPayloadError,
    ModelLoadError,
    NotAcceptableError,
    PayloadTooLargeError,
    RequestError,
    TrainingInterrupted,
    UnsupportedMediaTypeError,
)
from sm_contract.paths import MLPaths

__all__ = [
    "ChannelNotFoundError",
    "ConfigurationError",
    "ContractError",
    "DataError",
    "InvalidPayloadError",
    "MLPaths",
    "ModelLoadError",
    "NotAcceptableError",
    "PayloadTooLargeError",
    "RequestError",
    "ServingEnv",
    "TrainingEnv",
    "TrainingInterrupted",
    "UnsupportedMediaTypeError",
]
