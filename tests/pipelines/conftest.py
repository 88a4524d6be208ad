from __future__ import annotations

from utils.images import image_fixture

chainer_mnist_image = image_fixture("chainer-mnist")
keras_text_image = image_fixture("keras-text")
