"""The chainer-mnist image's ``train``, ``serve`` and worker app (console scripts point here)."""

from sm_contract.entrypoints import Image
from sm_contract.script_mode import Framework

IMAGE = Image(
    trainer="chainer_mnist.train:train",
    loader="chainer_mnist.predictor:MnistHandler.load",
    app_factory="chainer_mnist.image:IMAGE.app",
    framework=Framework(
        name="chainer",
        multi_host="mpi",  # several hosts run one MPI job (ChainerMN), as AWS's Chainer container did
        builtin_module="chainer_mnist.train",
        serving_defaults="chainer_mnist.framework",
    ),
)
