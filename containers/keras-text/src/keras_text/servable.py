"""The exported model at serving time: TensorFlow's SavedModel runtime only, no Keras.

Serving never rebuilds the Keras model, so it needs neither tf-keras nor keras-self-attention: it loads the
SavedModel's ``serving_default`` concrete function, the very graph TF Serving runs. ``lean_tensorflow``
keeps TensorFlow from importing tf-keras at all (about a third of a second per worker process).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from keras_text.inference import BATCHED, LINE, PROBABILITIES, TOKENS

INTRA_THREADS_VAR, INTER_THREADS_VAR = "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"


def lean_tensorflow() -> None:
    """Call before TensorFlow is first imported in a serving-only process: tf.keras stays unloaded."""
    os.environ["TF_USE_LEGACY_KERAS"] = "0"


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """TensorFlow threads for one of ``workers`` server processes sharing the machine's CPUs (at least 1)."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


class ServingFunction:
    """The compiled ``serving_default`` function of an exported model (no Python layer code needed).

    ``threads`` caps TensorFlow's intra- and inter-op thread pools of this process (TensorFlow allows that
    only before its runtime starts, so it takes effect for the first ServingFunction of a process).
    ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` override it.
    """

    def __init__(self, directory: Path, threads: int | None = None) -> None:
        import tensorflow as tf

        if threads is not None:
            _set_threads(tf, threads)
        self._tf = tf
        self._loaded = tf.saved_model.load(str(directory))  # kept: the function only weakly holds its variables
        self._function = self._loaded.signatures["serving_default"]

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        tf = self._tf
        zeros = tf.zeros([tokens.shape[0]], tf.int32)
        out = self._function(**{TOKENS: tf.constant(tokens, tf.int32), LINE: zeros, BATCHED: zeros})
        return out[PROBABILITIES].numpy()


def _set_threads(tf: ModuleType, threads: int) -> None:
    intra = int(os.environ.get(INTRA_THREADS_VAR) or threads)
    inter = int(os.environ.get(INTER_THREADS_VAR) or threads)
    # RuntimeError: the runtime already started (e.g. training ran in this process); its pools stay.
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
