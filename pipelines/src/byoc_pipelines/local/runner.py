"""AWS-shaped SageMaker requests run on this machine: training jobs by the project's runner, endpoints by the local
endpoints, models and batch transforms by SDK local mode.

:class:`LocalModeRunner` sends training jobs (create, describe, stop) to :class:`TrainingJobs`, which runs them in
the background as SageMaker does, endpoint operations (configs, endpoints, updates, InvokeEndpoint) to the run's
local endpoints (:mod:`byoc_pipelines.local.endpoints`), and everything else to SDK local mode's client through
:func:`to_local`, which changes a request only where local mode needs it (instance types, fields its client does
not take). On top it serves ``s3://`` URIs from an :class:`S3Folder`, hands script-mode code over as local mode
wants it (:mod:`byoc_pipelines.local.code`) and adds the ARNs of the create answers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from byoc_pipelines.local import code
from byoc_pipelines.local.endpoints import OPERATIONS as ENDPOINT_OPERATIONS
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.local.session import RUN_LABEL, LocalMode
from byoc_pipelines.local.training import TrainingJobs
from byoc_pipelines.sagemaker.runner import client_error, jsonable

LOCAL_INSTANCE = "local"
TRAINING_OPERATIONS = frozenset({"CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"})
# Create operations whose local client answers None: the ARN field of their AWS answer, its kind and name field.
_ARN_OF = {
    "CreateModel": ("ModelArn", "model", "ModelName"),
    "CreateTransformJob": ("TransformJobArn", "transform-job", "TransformJobName"),
}


def to_local(operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite an AWS request for SDK local mode (a copy), never the other way round.

    Instance types become ``local``; fields the local client does not take (a model's role) are dropped.
    """
    local = copy.deepcopy(dict(request))
    if operation == "CreateModel":
        local.pop("ExecutionRoleArn", None)
        local["PrimaryContainer"].setdefault("Environment", {})  # the local client reads it unconditionally
    elif operation == "CreateTransformJob":
        local["TransformResources"]["InstanceType"] = LOCAL_INSTANCE
    return local


class LocalModeRunner:
    """A :class:`byoc_pipelines.sagemaker.runner.SageMakerRunner` backed by containers on this machine.

    Without ``s3`` the requests use ``file://`` URIs directly; with it, ``s3://`` URIs are folders under its root.
    Training jobs run in the background, as on AWS: :meth:`wait_for_training_job` waits for one to end.
    """

    def __init__(self, local_mode: LocalMode, s3: S3Folder | None = None, account: str = "123456789012") -> None:
        self.local_mode, self.s3, self.account = local_mode, s3, account
        self.training = TrainingJobs(
            local_mode.root, region=local_mode.region, account=account, labels={RUN_LABEL: local_mode.run_id}
        )

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        local: dict[str, Any] = self.s3.to_files(dict(request)) if self.s3 else copy.deepcopy(dict(request))
        answer: Mapping[str, Any] | None
        if operation in ENDPOINT_OPERATIONS:  # every endpoint is ours, never the SDK's (local/endpoints)
            return self._endpoint_call(operation, local)
        if operation in TRAINING_OPERATIONS:
            answer = self.training.call(operation, local)
        elif operation == "StopTransformJob":
            answer = self._stop_transform_job(local["TransformJobName"])
        else:
            if operation == "CreateTransformJob":
                _mkdir(local["TransformOutput"]["S3OutputPath"])
            if operation == "CreateModel":
                container = local["PrimaryContainer"]
                folder = self._code_folder("model", local["ModelName"])
                container["Environment"] = code.model_environment(container.get("Environment") or {}, folder)
            answer = self._sdk_call(operation, local)
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

    def put_metric_alarm(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """CloudWatch's PutMetricAlarm, for the local endpoints' automatic rollback (a workflow's own alarm)."""
        return self.local_mode.endpoints.put_metric_alarm(**request)

    def wait_for_training_job(self, name: str, timeout_s: float | None = None) -> dict[str, Any]:
        """DescribeTrainingJob once the job has ended (Completed, Failed or Stopped), in the runner's terms."""
        self.training.wait(name, timeout_s)
        return self.call("DescribeTrainingJob", {"TrainingJobName": name})

    def _sdk_call(self, operation: str, request: dict[str, Any]) -> Any:
        """SDK local mode's client; what it refuses becomes the ClientError SageMaker would answer with."""
        method = getattr(self.local_mode.sagemaker_client, xform_name(operation))
        try:
            return method(**to_local(operation, request))
        except ClientError:
            raise
        except Exception as exc:  # the local client raises its own types for a request it cannot serve
            raise client_error("ValidationException", f"{type(exc).__name__}: {exc}", operation) from exc

    def _stop_transform_job(self, name: str) -> dict[str, Any]:
        """SDK local mode runs a transform inside its create call, so there is never one to stop: AWS's answers."""
        try:
            described = self.local_mode.sagemaker_client.describe_transform_job(TransformJobName=name)
        except Exception:  # the local client raises its own error types for an unknown job
            raise client_error(
                "ValidationException", f"Could not find transform job {name}", "StopTransformJob"
            ) from None
        status = described.get("TransformJobStatus", "Completed")
        message = f"The request was rejected because the transform job is in status {status}."
        raise client_error("ValidationException", message, "StopTransformJob")

    def _code_folder(self, kind: str, name: str) -> Path:
        """Where a model's script-mode code is unpacked: a folder of this run, one per resource."""
        return self.local_mode.root / "code" / kind / name


def _mkdir(file_uri: str) -> None:
    if file_uri.startswith("file://"):
        Path(file_uri.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
