"""SageMaker requests with ``s3://`` URIs run in local mode on folders: ``s3://bucket/key`` is ``<root>/bucket/key``.

The definition and the execution input keep their S3 URIs; only the runner maps them to ``file://`` on the way
in and back to ``s3://`` on the way out, so the execution data looks as it would on AWS. Training output is
laid out as on AWS (``<S3OutputPath>/<job>/output/model.tar.gz``): local mode writes the tarballs straight
into the folder it is given, so the runner gives it that per-job folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byoc_pipelines.local import LocalMode
from byoc_pipelines.sfn_local import jsonable

# Create operations whose local client answers None, and the ARN kind of their AWS answer.
_ARN_OF = {
    "CreateModel": ("ModelArn", "model", "ModelName"),
    "CreateEndpointConfig": ("EndpointConfigArn", "endpoint-config", "EndpointConfigName"),
    "CreateEndpoint": ("EndpointArn", "endpoint", "EndpointName"),
    "CreateTransformJob": ("TransformJobArn", "transform-job", "TransformJobName"),
}


@dataclass(frozen=True)
class S3Folder:
    """A local folder standing in for S3."""

    root: Path

    def path(self, uri: str) -> Path:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri}")
        return self.root / uri.removeprefix("s3://")

    def to_local(self, uri: str) -> str:
        return f"file://{self.path(uri)}" if uri.startswith("s3://") else uri

    def to_s3(self, uri: str) -> str:
        prefix = f"file://{self.root}/"
        return "s3://" + uri.removeprefix(prefix) if uri.startswith(prefix) else uri

    def put(self, source: Path, uri: str) -> None:
        """Copy a file (``uri`` is its key or its folder ending in ``/``) or a folder's content to ``uri``."""
        target = self.path(uri)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            return
        if uri.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def put_bytes(self, data: bytes, uri: str) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def map_strings(value: Any, convert: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, Mapping):
        return {key: map_strings(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, convert) for item in value]
    return value


class LocalModeRunner:
    """A :class:`byoc_pipelines.sfn_local.SageMakerRunner` backed by :class:`LocalMode` containers."""

    def __init__(self, local_mode: LocalMode, s3: S3Folder, account: str = "123456789012") -> None:
        self.local_mode, self.s3, self.account = local_mode, s3, account

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        local: dict[str, Any] = map_strings(dict(request), self.s3.to_local)
        if operation == "CreateTrainingJob":
            output = local["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            job_folder = f"{output}/{local['TrainingJobName']}/output"
            Path(job_folder.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
            local["OutputDataConfig"] = {**local["OutputDataConfig"], "S3OutputPath": job_folder}
        elif operation == "CreateTransformJob":
            Path(local["TransformOutput"]["S3OutputPath"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        answer = self.local_mode.call(operation, local)
        if answer is None and operation in _ARN_OF:
            key, kind, name_key = _ARN_OF[operation]
            answer = {key: f"arn:aws:sagemaker:{self.local_mode.region}:{self.account}:{kind}/{local[name_key]}"}
        return map_strings(jsonable(answer), self.s3.to_s3)  # type: ignore[no-any-return]
