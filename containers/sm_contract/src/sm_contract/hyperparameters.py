"""Typed hyperparameters from SageMaker's all-strings map, parsed defensively.

SDKs send ``True`` as ``"True"`` (v2 Estimator), ``"true"`` (v2 frameworks, v3) and strings as ``"abc"`` or
``"\\"abc\\""``; Step Functions sends whatever string the definition holds. Each value is JSON-decoded when it
can be, else kept raw, then converted to the field's declared type with an error naming key, value and type.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from sm_contract.errors import ConfigurationError

logger = logging.getLogger(__name__)

T = TypeVar("T")
RESERVED_PREFIX = "sagemaker_"
RESERVED_KEYS = frozenset({"_tuning_objective_metric"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def decode(raw: str) -> Any:
    """JSON-decode a value if possible (``"2"`` -> 2, ``"\\"adam\\""`` -> "adam"), else return it as is."""
    try:
        return json.loads(raw)
    except (ValueError, TypeError, RecursionError):  # ValueError also covers integers of over 4,300 digits
        return raw


def key_of(field_name: str) -> str:
    """The hyperparameter key for a dataclass field: ``batch_size`` -> ``batch-size``."""
    return field_name.replace("_", "-")


def _convert(key: str, raw: str, target: Any) -> Any:
    value = decode(raw)
    expected = getattr(target, "__name__", str(target))
    try:
        if typing.get_origin(target) is Literal:
            choices = typing.get_args(target)
            text = str(value).strip().lower() if isinstance(value, str) else value
            if text in choices:
                return text
            expected = " | ".join(map(str, choices))
            raise ValueError
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if target is int:
            if isinstance(value, bool) or (isinstance(value, str) and len(value.strip()) > 30):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if target is str:
            return value if isinstance(value, str) else raw
    except (TypeError, ValueError):
        pass
    else:
        raise ConfigurationError(f"hyperparameter '{key}': type {target!r} is not supported")
    shown = raw if len(raw) <= 60 else f"{raw[:40]}... ({len(raw)} characters)"
    raise ConfigurationError(f"hyperparameter '{key}'={shown!r} is not a valid {expected}")


def parse(cls: type[T], raw: Mapping[str, str]) -> T:
    """Build the frozen dataclass ``cls`` from raw strings; unknown keys are an error.

    Keys may use hyphens or underscores. ``sagemaker_*`` and ``_tuning_objective_metric`` belong to
    SageMaker and its toolkits and are dropped.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {key_of(f.name): f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        if key.startswith(RESERVED_PREFIX) or key in RESERVED_KEYS:
            continue
        canonical = key.strip().replace("_", "-")
        field = fields.get(canonical)
        if field is None:
            unknown.append(key)
            continue
        values[field.name] = _convert(canonical, value, hints[field.name])
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigurationError(f"unknown hyperparameter(s) {', '.join(map(repr, sorted(unknown)))}; known: {known}")
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate()
    return instance


def as_dict(instance: Any) -> dict[str, Any]:
    """Hyperparameters as a JSON-ready dict keyed the way users write them."""
    return {key_of(k): v for k, v in dataclasses.asdict(instance).items()}


def reserved(raw: Mapping[str, str]) -> dict[str, Any]:
    """The ``sagemaker_*`` keys (script-mode and framework settings), decoded."""
    return {k: decode(v) for k, v in raw.items() if k.startswith(RESERVED_PREFIX)}
