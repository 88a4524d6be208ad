"""The files of a training job on this machine: each host's ``/opt/ml`` tree, its checkpoints, its artifacts.

A job attempt gets ``<job folder>/attempt-<n>/<host>/`` per host, laid out as SageMaker lays out ``/opt/ml``
(``input/config/*.json``, ``model/``, ``output/``, ``checkpoints/``); channels and script-mode code are bind
mounts of ``file://`` folders, read-only. What SageMaker keeps in S3 lives under ``file://`` URIs too: the
checkpoint location (copied in before an attempt starts and back when it ends, as SageMaker syncs
``CheckpointConfig.LocalPath`` with ``CheckpointConfig.S3Uri``) and the job's ``<S3OutputPath>/<job>/output/``
with ``model.tar.gz`` (from the first host's ``/opt/ml/model``) and ``output.tar.gz`` (its ``output/data``).
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byoc_pipelines.local import code
from byoc_pipelines.sagemaker.script_mode import SUBMIT_DIRECTORY

OPT_ML = "/opt/ml"
CODE_DIR = "/opt/ml/code"
DEFAULT_CHECKPOINTS = "/opt/ml/checkpoints"
FAILURE_REASON_LIMIT = 1024  # DescribeTrainingJob.FailureReason's maximum length (botocore)
FILE = "file://"


def local_path(uri: str) -> Path:
    """The folder or file of a ``file://`` URI; anything else is a request this machine cannot serve."""
    if not uri.startswith(FILE):
        raise ValueError(f"{uri!r} is not a file:// location: map s3:// to a folder first (S3Folder)")
    return Path(uri.removeprefix(FILE))


def hosts_of(count: int) -> list[str]:
    """``algo-1`` ... ``algo-<count>``: the host names SageMaker gives a job's instances."""
    return [f"algo-{index}" for index in range(1, count + 1)]


def resource_config(host: str, hosts: Sequence[str], instance_type: str) -> dict[str, Any]:
    """``resourceconfig.json`` of one host, with the fields SageMaker writes (one homogeneous instance group)."""
    return {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": list(hosts),
        "instance_groups": [
            {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": list(hosts)}
        ],
        "network_interface_name": "eth0",
    }


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class HostTree:
    """One host's ``/opt/ml`` on this machine and the extra mounts (channels, code) it runs with."""

    host: str
    root: Path
    mounts: tuple[Mount, ...]
    checkpoint_dir: str  # CheckpointConfig.LocalPath inside the container

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def volumes(self) -> dict[str, dict[str, str]]:
        """The Docker SDK's ``volumes`` argument: the tree at ``/opt/ml``, then the mounts (channels, code)."""
        found = {str(self.root): {"bind": OPT_ML, "mode": "rw"}}
        if self.checkpoint_dir != DEFAULT_CHECKPOINTS:
            found[str(self.checkpoints)] = {"bind": self.checkpoint_dir, "mode": "rw"}
        for mount in self.mounts:
            found[str(mount.source)] = {"bind": mount.target, "mode": "ro" if mount.read_only else "rw"}
        return found

    def failure_reason(self) -> str | None:
        failure = self.output_dir / "failure"
        if not failure.is_file():
            return None
        text = " ".join(failure.read_text(encoding="utf-8", errors="replace").split())
        return text[:FAILURE_REASON_LIMIT] or None


def _channel_mounts(request: Mapping[str, Any]) -> list[Mount]:
    mounts = []
    for channel in request.get("InputDataConfig") or []:
        source = channel["DataSource"].get("S3DataSource") or {}
        uri = source.get("S3Uri", "")
        if source.get("S3DataDistributionType", "FullyReplicated") != "FullyReplicated":
            raise ValueError(f"channel {channel['ChannelName']}: only FullyReplicated channels run on this machine")
        mounts.append(Mount(local_path(uri), f"{OPT_ML}/input/data/{channel['ChannelName']}"))
    return mounts


def hyperparameters_and_code(request: Mapping[str, Any], code_folder: Path) -> tuple[dict[str, str], list[Mount]]:
    """The hyperparameters the containers read, and the code mount of script mode.

    On AWS the container downloads ``sagemaker_submit_directory`` from S3; here a ``file://`` tarball is unpacked
    into ``code_folder`` (or a folder used as it is), mounted at ``/opt/ml/code`` and named so.
    """
    found = dict(request.get("HyperParameters") or {})
    if SUBMIT_DIRECTORY not in found:
        return found, []
    location = code.as_folder(code.decoded(found[SUBMIT_DIRECTORY]), code_folder)
    if not location.startswith(FILE):
        return found, []
    found[SUBMIT_DIRECTORY] = CODE_DIR
    return found, [Mount(local_path(location), CODE_DIR)]


def input_data_config(request: Mapping[str, Any]) -> dict[str, Any]:
    """``inputdataconfig.json``: per channel its input mode (and content type when the request gives one)."""
    found: dict[str, Any] = {}
    for channel in request.get("InputDataConfig") or []:
        entry = {
            "TrainingInputMode": channel.get("InputMode") or request["AlgorithmSpecification"]["TrainingInputMode"]
        }
        if "ContentType" in channel:
            entry["ContentType"] = channel["ContentType"]
        found[channel["ChannelName"]] = entry
    return found


def write_trees(request: Mapping[str, Any], folder: Path, hosts: Sequence[str], code_folder: Path) -> list[HostTree]:
    """Every host's ``/opt/ml`` of one attempt under ``folder``, config files written, output folders made."""
    hyperparameters, code_mounts = hyperparameters_and_code(request, code_folder)
    mounts = tuple(_channel_mounts(request) + code_mounts)
    checkpoint_dir = (request.get("CheckpointConfig") or {}).get("LocalPath") or DEFAULT_CHECKPOINTS
    instance_type = request["ResourceConfig"]["InstanceType"]
    trees = []
    for host in hosts:
        root = folder / host
        config = root / "input" / "config"
        for sub in (config, root / "model", root / "output" / "data", root / "checkpoints"):
            sub.mkdir(parents=True, exist_ok=True)
        for name, content in (
            ("hyperparameters.json", hyperparameters),
            ("inputdataconfig.json", input_data_config(request)),
            ("resourceconfig.json", resource_config(host, hosts, instance_type)),
        ):
            (config / name).write_text(json.dumps(content, indent=1))
        trees.append(HostTree(host, root, mounts, checkpoint_dir))
    return trees


def restore_checkpoints(location: Path, trees: Sequence[HostTree]) -> int:
    """Copy the checkpoint location into every host's checkpoint folder; the number of files restored."""
    files = [path for path in location.rglob("*") if path.is_file()] if location.is_dir() else []
    for tree in trees:
        if files:
            shutil.copytree(location, tree.checkpoints, dirs_exist_ok=True)
    return len(files)


def checkpoint_position(location: Path) -> str:
    """``epoch 2, step 0`` from the checkpoint's ``manifest.json`` (sm_contract's format), when there is one."""
    try:
        manifest = json.loads((location / "manifest.json").read_text())
        return f"epoch {int(manifest['epoch'])}, step {int(manifest.get('step', 0))}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def save_checkpoints(trees: Sequence[HostTree], location: Path) -> None:
    """Every host's checkpoint files back to the location (SageMaker uploads what each host writes there)."""
    location.mkdir(parents=True, exist_ok=True)
    for tree in trees:
        shutil.copytree(tree.checkpoints, location, dirs_exist_ok=True)


def _tar(folder: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return target


def upload_artifacts(master: HostTree, job_output: Path, *, model: bool = True) -> Path | None:
    """``output.tar.gz`` (and ``model.tar.gz`` unless ``model`` is false) into ``<S3OutputPath>/<job>/output``."""
    if any((master.output_dir / "data").iterdir()):
        _tar(master.output_dir / "data", job_output / "output.tar.gz")
    if not model or not any(master.model_dir.iterdir()):
        return None
    return _tar(master.model_dir, job_output / "model.tar.gz")
