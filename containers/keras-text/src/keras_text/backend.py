"""TensorFlow and its legacy Keras 2 API (tf-keras), imported after the package set the Keras switches."""

from __future__ import annotations

import tensorflow as tf
from tensorflow import keras

if not keras.__name__.startswith("tf_keras"):  # Keras 3 would break keras-self-attention and our checkpoints
    raise ImportError(f"tf.keras is {keras.__name__}; import TensorFlow only after setting TF_USE_LEGACY_KERAS=1")

__all__ = ["keras", "tf"]
