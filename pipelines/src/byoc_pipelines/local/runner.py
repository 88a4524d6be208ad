"""AWS-shaped SageMaker requests run by SDK local mode: the one rewrite for local mode, and the runner using it.

:func:`to_local` changes a request only where local mode needs it (instance types, fields its client does not
take, ``file://`` channels). :class:`LocalModeRunner` adds what the SDK's client lacks to behave like AWS:
``s3://`` URIs served from an :class:`S3Folder`, script-mode code handed over as local mode wants it
(:mod:`byoc_pipelines.local.code`), training output laid out as on AWS (``<S3OutputPath>/<job>/output/model.tar.gz``),
ARNs in the create answers, and a failed training job that ends ``Failed`` with the container's reason instead
of an exception. Endpoint operations (configs, endpoints, updates, InvokeEndpoint) go to the run's local
endpoints (:mod:`byoc_pipelines.local.endpoints`), never to the SDK's.
"""

from __future__ import annotations

import copy
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore import xform_name

from byoc_pipelines.local import code
from byoc_pipelines.local.endpoints import OPERATIONS as ENDPOINT_OPERATIONS
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker.runner import jsonable

LOCAL_INSTANCE = "local"
# Fields of CreateTrainingJob the local client's signature does not take.
_TRAINING_DROPPED = ("RoleArn", "StoppingCondition", "CheckpointConfig", "EnableManagedSpotTraining", "Tags")
# Create operations whose local client answers None: the ARN field of their AWS answer, its kind and name field.
_ARN_OF = {
    "CreateTrainingJob": ("TrainingJobArn", "training-job", "TrainingJobName"),
    "CreateModel": ("ModelArn", "model", "ModelName"),
    "CreateTransformJob": ("TransformJobArn", "transform-job", "TransformJobName"),
}


def _training_to_local(request: dict[str, Any]) -> None:
    request["ResourceConfig"]["InstanceType"] = LOCAL_INSTANCE
    for key in _TRAINING_DROPPED:
        request.pop(key, None)
    request["AlgorithmSpecification"].pop("MetricDefinitions", None)
    for channel in request.get("InputDataConfig", []):
        uri = channel["DataSource"].get("S3DataSource", {}).get("S3Uri", "")
        if uri.startswith("file://"):
            channel["DataSource"] = {"FileDataSource": {"FileUri": uri, "FileDataDistributionType": "FullyReplicated"}}


def to_local(operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite an AWS request for SDK local mode (a copy), never the other way round.

    Instance types become ``local``; ``file://`` channels become ``FileDataSource``; fields the local client
    does not take (``RoleArn``, ``StoppingCondition``, ``CheckpointConfig``, ...) are dropped.
    """
    local = copy.deepcopy(dict(request))
    if operation == "CreateTrainingJob":
        _training_to_local(local)
    elif operation == "CreateModel":
        local.pop("ExecutionRoleArn", None)
        local["PrimaryContainer"].setdefault("Environment", {})  # the local client reads it unconditionally
    elif operation == "CreateTransformJob":
        local["TransformResources"]["InstanceType"] = LOCAL_INSTANCE
    return local


def failure_reason(output_uri: str) -> str | None:
    """``failure`` from the job's ``output.tar.gz`` (local mode writes it straight into the output folder)."""
    if not output_uri.startswith("file://"):
        return None
    archive = Path(output_uri.removeprefix("file://")) / "output.tar.gz"
    if not archive.is_file():
        return None
    with tarfile.open(archive) as tar:
        member = next((m for m in tar.getmembers() if Path(m.name).name == "failure"), None)
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode("utf-8", errors="replace").strip()[:1024] if handle else None


class LocalModeRunner:
    """A :class:`byoc_pipelines.sagemaker.runner.SageMakerRunner` backed by :class:`LocalMode` containers.

    Without ``s3`` the requests use ``file://`` URIs directly; with it, ``s3://`` URIs are folders under its root.
    """

    def __init__(self, local_mode: LocalMode, s3: S3Folder | None = None, account: str = "123456789012") -> None:
        self.local_mode, self.s3, self.account = local_mode, s3, account
        self._failed: dict[str, str] = {}

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        local: dict[str, Any] = self.s3.to_files(dict(request)) if self.s3 else copy.deepcopy(dict(request))
        answer: Mapping[str, Any] | None
        if operation in ENDPOINT_OPERATIONS:  # every endpoint is ours, never the SDK's (local/endpoints)
            return self._endpoint_call(operation, local)
        if operation == "DescribeTrainingJob":
            answer = self._describe_training_job(local["TrainingJobName"])
        elif operation == "CreateTrainingJob":
            self._create_training_job(local)
            answer = None  # as the local client; the ARN is filled in below
        else:
            if operation == "CreateTransformJob":
                _mkdir(local["TransformOutput"]["S3OutputPath"])
            if operation == "CreateModel":
                container = local["PrimaryContainer"]
                folder = self._code_folder("model", local["ModelName"])
                container["Environment"] = code.model_environment(container.get("Environment") or {}, folder)
            answer = getattr(self.local_mode.sagemaker_client, xform_name(operation))(**to_local(operation, local))
        if answer is None and operation in _ARN_OF:
            key, kind, name_key = _ARN_OF[operation]
            answer = {key: f"arn:aws:sagemaker:{self.local_mode.region}:{self.account}:{kind}/{local[name_key]}"}
        result = jsonable(answer)
        return dict(self.s3.to_s3(result) if self.s3 else result)

    def _endpoint_call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        answer = self.local_mode.endpoints.call(operation, request)
        if operation == "InvokeEndpoint":
            return answer  # Body is a stream, as boto3's
        result = jsonable(answer)
        return dict(self.s3.to_s3(result) if self.s3 else result)

    def _create_training_job(self, request: dict[str, Any]) -> None:
        """Run the job in ``<S3OutputPath>/<job>/output``; as on AWS a failing container does not raise."""
        output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        job_folder = f"{output}/{request['TrainingJobName']}/output"
        _mkdir(job_folder)
        request["OutputDataConfig"] = {**request["OutputDataConfig"], "S3OutputPath": job_folder}
        name = request["TrainingJobName"]
        folder = self._code_folder("training-job", name)
        request["HyperParameters"] = code.training_hyperparameters(request.get("HyperParameters") or {}, folder)
        try:
            self.local_mode.sagemaker_client.create_training_job(**to_local("CreateTrainingJob", request))
        except RuntimeError as exc:  # Compose v2 reports the container's exit code
            self._failed[name] = failure_reason(job_folder) or str(exc)
        else:  # docker-compose 1.29 exits 0 even when the container failed: read the failure file
            reason = failure_reason(job_folder)
            if reason:
                self._failed[name] = reason

    def _code_folder(self, kind: str, name: str) -> Path:
        """Where a job's or model's script-mode code is unpacked: a folder of this run, one per resource."""
        return self.local_mode.root / "code" / kind / name

    def _describe_training_job(self, name: str) -> dict[str, Any]:
        """The SDK's description, with ``Failed`` and ``FailureReason`` for a job whose container failed."""
        if name in self._failed:
            return {"TrainingJobName": name, "TrainingJobStatus": "Failed", "FailureReason": self._failed[name]}
        described: dict[str, Any] = self.local_mode.sagemaker_client.describe_training_job(TrainingJobName=name)
        return described


def _mkdir(file_uri: str) -> None:
    if file_uri.startswith("file://"):
        Path(file_uri.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
