"""JSON values and tensors as TF Serving converts them: dtypes from the signature, strings and ``{"b64": ...}``."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_text.serving.tfs.models import TensorSpec

MAX_DIMS = 64  # NumPy's limit on an array's dimensions: deeper JSON cannot be a tensor


class RestError(Exception):
    """A request TF Serving would refuse: its HTTP status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def bad(message: str) -> RestError:
    return RestError(400, message)


# ---- JSON -> tensors ---------------------------------------------------------------------------------------------
def decode_strings(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            return base64.b64decode(value["b64"])
        raise bad('JSON object found where a string tensor value was expected (only {"b64": ...} is allowed)')
    if isinstance(value, list):
        if depth >= MAX_DIMS:  # before Python's recursion limit, which JSON's own nesting limit is close to
            raise bad(f"string values nested more than {MAX_DIMS} deep; a tensor has at most {MAX_DIMS} dimensions")
        return [decode_strings(item, depth + 1) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def to_tensor(value: Any, spec: TensorSpec, where: str) -> np.ndarray:
    try:
        if spec.is_string:
            return np.asarray(decode_strings(value), dtype=object)
        array = np.asarray(value, dtype=spec.dtype)
    except RestError as exc:
        raise bad(f"{where}: {exc.message}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad(f"{where}: cannot convert to {spec.dtype}: {exc}") from None
    return array


def stack(rows: Sequence[Any], spec: TensorSpec, where: str) -> np.ndarray:
    tensors = [to_tensor(row, spec, f"{where} element {i}") for i, row in enumerate(rows)]
    if tensors and tensors[0].ndim >= MAX_DIMS:  # stacking adds the batch dimension
        raise bad(f"{where}: instances of {tensors[0].ndim} dimensions; a batch of them would exceed {MAX_DIMS}")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise bad(f"{where}: the instances have different shapes {sorted(shapes)}; they must share one shape")
    return np.stack(tensors) if tensors else np.zeros((0,), dtype=spec.dtype)


def jsonable(array: np.ndarray, name: str) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        encode: Callable[[Any], Any] = (
            (lambda v: {"b64": base64.b64encode(v).decode()})
            if name.endswith("_bytes")
            else (lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v))
        )
        return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()
    values = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        return finite(values)
    return values


def finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN: null, unlike TF Serving's NaN tokens
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
