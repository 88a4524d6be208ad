"""Several hosts train the built-in model together: MultiWorkerMirroredStrategy from the TF_CONFIG the image's
launcher gives every host (the first host is the chief); one host uses TensorFlow's default strategy.

``python -m keras_text.training`` is how a multi-host job starts the built-in trainer on each host.
Every collective (a training step, an evaluation, :func:`total`) must run on all workers in the same order,
or the job hangs: decisions that change the loop (early stopping, stopping on SIGTERM, the epoch to resume
at) are taken from values every worker computes identically or agrees on through :func:`total`.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sm_contract.paths import MLPaths

TF_CONFIG_VAR = "TF_CONFIG"


def _cluster() -> dict[str, Any]:
    try:
        config = json.loads(os.environ.get(TF_CONFIG_VAR) or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def workers() -> int:
    return len(_cluster().get("cluster", {}).get("worker", [])) or 1


def is_chief() -> bool:
    """The first worker evaluates for the record, writes checkpoints and the model."""
    return int(_cluster().get("task", {}).get("index", 0)) == 0


def strategy() -> Any:
    """Created before any other TensorFlow work, as MultiWorkerMirroredStrategy requires."""
    from keras_text.backend import tf

    if workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def describe() -> str:
    """One log line: how many workers train, and which one this is."""
    if workers() == 1:
        return "1 worker (one host)"
    index = int(_cluster().get("task", {}).get("index", 0))
    role = "the chief" if is_chief() else "not the chief"
    return f"{workers()} workers (MultiWorkerMirroredStrategy); this is worker {index}, {role}"


def total(strategy: Any, value: float) -> float:
    """The sum of ``value`` over all workers: a collective, so every worker must call it at the same point."""
    if workers() == 1:
        return value
    from keras_text.backend import tf

    return float(_summing(strategy)(tf.constant(value, tf.float32)))


@functools.cache
def _summing(strategy: Any) -> Any:
    """One traced all-reduce per strategy (run eagerly, MWMS warns of its overhead)."""
    from keras_text.backend import tf

    def summed(value: Any) -> Any:
        per_replica = strategy.run(tf.identity, args=(value,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return tf.function(summed)


def scratch_paths() -> MLPaths:
    """Where a worker that is not the chief writes what only the chief keeps (MWMS's own pattern)."""
    return MLPaths(base=Path(tempfile.gettempdir()) / "keras-text-worker")
