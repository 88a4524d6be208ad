"""The exported model at serving time: TensorFlow's SavedModel runtime only, no Keras.

Serving never rebuilds the Keras model, so it needs neither tf-keras nor keras-self-attention: it loads the
SavedModel's ``serving_default`` concrete function, the very graph TF Serving runs. The image's
``serve`` sets ``TF_USE_LEGACY_KERAS=0``, so TensorFlow never imports tf-keras in a worker (a third of a second).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_text.inference import BATCHED, LINE, PROBABILITIES, TOKENS


class ServingFunction:
    """The compiled ``serving_default`` function of an exported model (no Python layer code needed).

    TensorFlow's thread pools follow ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``, which ``serve``
    sets for each worker's share of the CPUs.
    """

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(directory))  # kept: the function only weakly holds its variables
        self._function = self._loaded.signatures["serving_default"]

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        tf = self._tf
        zeros = tf.zeros([tokens.shape[0]], tf.int32)
        out = self._function(**{TOKENS: tf.constant(tokens, tf.int32), LINE: zeros, BATCHED: zeros})
        return out[PROBABILITIES].numpy()
