"""The Keras Japanese text classifier of the Keras article, as a SageMaker BYO image.

``TF_USE_LEGACY_KERAS`` makes ``tf.keras`` resolve to tf-keras (Keras 2) and ``TF_KERAS`` makes
keras-self-attention import ``tensorflow.keras``. Both must be set before TensorFlow is first imported, which
any submodule may do, so they are set here, in the package itself (the Dockerfile sets them too).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO lines (oneDNN, CUDA probes) are noise in job logs
