"""The high-level path a user writes: ModelTrainer in LOCAL_CONTAINER mode trains each image.

ModelTrainer's local compose file has no `command`, so this relies on each image's CMD ["train"]. Its
``local_container_root`` lies under the LocalMode root, which is how LocalMode knows the containers are its own.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from byoc_pipelines.local.session import LocalMode
from utils.data import KNBC_DIR, mnist_subset_bytes

pytestmark = pytest.mark.container


def _train(
    image: str, channels: dict[str, Path], hyperparameters: dict[str, object], root: Path
) -> tuple[Path, list[str]]:
    from sagemaker.core.training.configs import Compute, InputData
    from sagemaker.train.model_trainer import Mode, ModelTrainer

    with LocalMode(root / "lm") as local_mode:
        trainer = ModelTrainer(
            training_image=image,
            training_mode=Mode.LOCAL_CONTAINER,
            compute=Compute(instance_type="local_cpu", instance_count=1),
            hyperparameters=hyperparameters,
            input_data_config=[InputData(channel_name=name, data_source=str(path)) for name, path in channels.items()],
            local_container_root=str(local_mode.root / "trainer"),
            role="arn:aws:iam::123456789012:role/sagemaker",
            base_job_name="model-trainer",
        )
        trainer.train()
    artifact = root / "lm" / "trainer" / "compressed_artifacts" / "model.tar.gz"
    with tarfile.open(artifact) as tar:
        return artifact.parent, tar.getnames()


def test_chainer_mnist(chainer_mnist_image: str, tmp_path: Path, mnist_dir: Path) -> None:
    channels = {}
    for channel, n in (("train", 2000), ("valid", 300)):
        channels[channel] = tmp_path / "data" / channel
        channels[channel].mkdir(parents=True)
        (channels[channel] / f"{channel}.npz").write_bytes(mnist_subset_bytes(mnist_dir, channel, n))
    _, names = _train(chainer_mnist_image, channels, {"epochs": 1, "units": 50}, tmp_path)
    assert {"model.npz", "model.json"} <= {Path(n).name for n in names}


def test_keras_text(keras_text_image: str, tmp_path: Path) -> None:
    train = tmp_path / "data" / "train"
    shutil.copytree(KNBC_DIR / "train", train)
    _, names = _train(
        keras_text_image,
        {"train": train},
        {"epochs": 1, "hidden": 8, "embedding-dim": 16, "vocab-size": 2000},
        tmp_path,
    )
    assert any(n.endswith("saved_model.pb") for n in names)
    assert {"inference.py", "labels.json"} <= {Path(n).name for n in names}
