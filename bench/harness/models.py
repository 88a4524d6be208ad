"""Trained models for the serving benches, trained by the image itself and cached per image id and settings.

A model lands in ``build/bench/models/<image>-<id>-<settings>/`` (an /opt/ml tree), so the serving, TF
Serving-contract and soak benches of one ``make bench`` share it instead of training one each.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from harness.containers import Containers

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "bench" / "models"


def write_opt_ml(
    root: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, Path], **resources: object
) -> None:
    """An /opt/ml tree: hyperparameters (strings), channel folders copied in, resource config (one host by default)."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
    data_config = {}
    for channel, source in channels.items():
        shutil.copytree(source, root / "input" / "data" / channel, dirs_exist_ok=True)
        data_config[channel] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    hosts = resources.get("hosts", ["algo-1"])
    current = resources.get("current_host", "algo-1")
    resource_config = {"current_host": current, "hosts": hosts, "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(resource_config))
    for sub in ("model", "output", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def trained(
    containers: Containers, image: str, hyperparameters: Mapping[str, str], channels: Mapping[str, Path]
) -> Path:
    """The model folder of ``image`` trained on ``channels`` (cached); trains it when absent."""
    image_id = containers.client.images.get(image).id.split(":")[-1][:12]
    settings = "-".join(f"{k}{v}" for k, v in sorted(hyperparameters.items()))
    root = CACHE / f"{image.split('/')[-1].split(':')[0]}-{image_id}-{settings}"
    if (root / ".trained").is_file():
        return root / "model"
    shutil.rmtree(root, ignore_errors=True)
    write_opt_ml(root, hyperparameters, channels)
    print(f">> training a model with {image} ({settings})", flush=True)
    container = containers.run(image, "train", volumes={str(root): {"bind": "/opt/ml", "mode": "rw"}})
    status = container.wait(timeout=3600)["StatusCode"]
    logs = container.logs().decode(errors="replace")
    containers.remove(container)
    if status != 0:
        raise RuntimeError(f"training with {image} failed ({status}):\n{logs[-3000:]}")
    (root / ".trained").write_text(image_id + "\n")
    return root / "model"


def chainer_model(containers: Containers, image: str, mnist: Path, epochs: int = 1) -> Path:
    return trained(containers, image, {"epochs": str(epochs)}, {c: mnist / c for c in ("train", "valid")})


def keras_model(containers: Containers, image: str, knbc: Path, epochs: int = 3) -> Path:
    return trained(containers, image, {"epochs": str(epochs)}, {"train": knbc / "train"})
