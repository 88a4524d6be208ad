"""The chainer-mnist image's ``train``, ``serve`` and worker app (console scripts point here)."""

from sm_contract.entrypoints import Image
from sm_contract.script_mode import Framework

IMAGE = Image(
    trainer="chainer_mnist.training.job:train",
    loader="chainer_mnist.serving.handler:MnistHandler.load",
    app_factory="chainer_mnist.image:IMAGE.app",
    framework=Framework(
        name="chainer",
        multi_host="mpi",  # several hosts run one MPI job (ChainerMN), as AWS's Chainer container did
        builtin_module="chainer_mnist.training",
        serving_defaults="chainer_mnist.serving.framework",
    ),
)
