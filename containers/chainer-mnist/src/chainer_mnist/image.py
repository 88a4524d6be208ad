"""The chainer-mnist image's ``train``, ``serve`` and worker app (console scripts point here)."""

from sm_contract.entrypoints import Image

IMAGE = Image(
    trainer="chainer_mnist.train:train",
    loader="chainer_mnist.predictor:MnistHandler.load",
    app_factory="chainer_mnist.image:IMAGE.app",
)
