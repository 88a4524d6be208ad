"""What an instance runs: a model's container definition, and its model data laid out as SageMaker lays it out.

SageMaker extracts a single model's ``model.tar.gz`` into ``/opt/ml/model`` before the container starts (DG "Use
your own inference code with hosting services"); for a multi-model container (``Mode: MultiModel``) the
``ModelDataUrl`` is an S3 prefix, ``InvokeEndpoint``'s ``TargetModel`` the archive's path under it, and each
archive is extracted under ``/opt/ml/models`` when first invoked (DG "Multi-model endpoints"). Locally, model
data is ``file://`` (``s3://`` is mapped to a folder by the runner's :class:`S3Folder`). Unlike SDK local mode,
``/opt/ml/model`` holds the extracted files only, not the folder the archive is in.
"""

from __future__ import annotations

import hashlib
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from byoc_pipelines.sagemaker.script_mode import MODEL_SUBMIT_DIRECTORY

FILE = "file://"
CODE_DIR = "/opt/ml/code"
MODEL_DIR = "/opt/ml/model"
MODELS_DIR = "/opt/ml/models"  # a multi-model container's models, one folder each
MULTI_MODEL_VAR = "SAGEMAKER_MULTI_MODEL"


class ModelDataError(ValueError):
    """The model data cannot be had: the message is for the caller."""


@dataclass(frozen=True)
class ModelSpec:
    """One model's primary container, from ``DescribeModel``."""

    name: str
    image: str
    model_data: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    multi_model: bool = False

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> ModelSpec:
        container = described.get("PrimaryContainer")
        if not container:
            name = described.get("ModelName")
            raise ModelDataError(f"model {name} has no PrimaryContainer: local endpoints serve single-container models")
        return cls(
            name=str(described["ModelName"]),
            image=str(container["Image"]),
            model_data=container.get("ModelDataUrl"),
            environment=dict(container.get("Environment") or {}),
            multi_model=container.get("Mode") == "MultiModel",
        )

    def container_environment(self) -> dict[str, str]:
        """The container's variables: the model's, the code folder where it is mounted, the multi-model switch."""
        env = dict(self.environment)
        if env.get(MODEL_SUBMIT_DIRECTORY, "").startswith(FILE):
            env[MODEL_SUBMIT_DIRECTORY] = CODE_DIR
        if self.multi_model:
            env[MULTI_MODEL_VAR] = "true"
        return env

    def code_volume(self) -> dict[str, dict[str, str]]:
        """A ``file://`` code folder mounted at /opt/ml/code, as SDK local mode mounts it."""
        location = self.environment.get(MODEL_SUBMIT_DIRECTORY, "")
        if not location.startswith(FILE):
            return {}
        return {location.removeprefix(FILE): {"bind": CODE_DIR, "mode": "ro"}}

    def prefix(self) -> Path:
        """A multi-model model's local folder of archives."""
        return local_path(self.model_data or "", self.name)


def local_path(uri: str, model: str) -> Path:
    if not uri.startswith(FILE):
        raise ModelDataError(
            f"model {model}: ModelDataUrl {uri or '(none)'} is not local; local endpoints read file:// model data "
            "(s3:// URIs are mapped to a folder when the runner has an S3Folder)"
        )
    return Path(uri.removeprefix(FILE))


def extract(archive: Path, folder: Path) -> None:
    """Unpack a ``.tar.gz`` (only plain files and folders inside ``folder``: no absolute paths, links out, devices)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelDataError(f"{archive} is not a readable .tar.gz: {exc}") from exc


class ModelData:
    """Single models' archives extracted once per archive version and shared by instances (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def folder(self, spec: ModelSpec) -> Path | None:
        """The host folder to mount at /opt/ml/model (``None`` when the model has no model data)."""
        if not spec.model_data:
            return None
        source = local_path(spec.model_data, spec.name)
        if source.is_dir():
            return source  # a folder already (a local convenience; SageMaker wants a .tar.gz)
        if not source.is_file():
            raise ModelDataError(f"model {spec.name}: no model data at {spec.model_data}")
        stat = source.stat()
        key = hashlib.sha256(f"{source}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        folder = self.root / f"{spec.name}-{key}"
        with self._lock:
            if not (folder / ".extracted").exists():
                extract(source, folder / "model")
                (folder / ".extracted").touch()
        return folder / "model"


def target_archive(spec: ModelSpec, target_model: str) -> Path:
    """The archive ``TargetModel`` names under a multi-model model's prefix; never outside it."""
    prefix = spec.prefix().resolve()
    archive = (prefix / target_model).resolve()
    if not archive.is_relative_to(prefix):
        raise ModelDataError(f"TargetModel {target_model} is outside the model's prefix {spec.model_data}")
    if not archive.is_file():
        raise ModelDataError(f"Failed to download model data for TargetModel {target_model}: no {archive}")
    return archive


def model_name(target_model: str) -> str:
    """The opaque ``model_name`` a multi-model container gets for a TargetModel (SageMaker's is opaque too)."""
    return hashlib.sha256(target_model.encode("utf-8")).hexdigest()[:32]
