"""Chainer as a framework for users' scripts: the serving defaults of AWS's retired Chainer container."""

from __future__ import annotations

from typing import Any

import chainer


def default_predict_fn(data: Any, model: Any) -> Any:
    """``model(data)`` in inference mode without a graph: what ``model_fn`` returned, called on the input."""
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        predicted = model(data)
    return predicted.array if isinstance(predicted, chainer.Variable) else predicted
