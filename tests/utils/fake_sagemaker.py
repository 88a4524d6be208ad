"""An in-memory SageMaker for tests that need throttling, failing jobs or slow endpoints (moto's has none)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.sagemaker.runner import client_error
from byoc_pipelines.sagemaker.shapes import request_errors


@dataclass
class FakeSageMaker:
    """A :class:`byoc_pipelines.sagemaker.runner.SageMakerRunner` answering AWS-shaped requests in memory.

    ``throttle`` makes the first N calls of an operation fail with ``throttle_code``; ``failing_jobs``
    lists training job names that end ``Failed``; ``creating_polls`` is how many DescribeEndpoint calls answer
    ``Creating`` (or ``Updating`` after UpdateEndpoint) before ``InService``. With ``validate`` every request is
    checked against botocore's model. CloudWatch's PutMetricAlarm is kept in ``alarms``, or refused with
    ``alarm_error`` as its message.
    """

    region: str = "us-east-1"
    account: str = "123456789012"
    validate: bool = True
    throttle: dict[str, int] = field(default_factory=dict)
    throttle_code: str = "ThrottlingException"
    failing_jobs: set[str] = field(default_factory=set)
    creating_polls: int = 1
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarm_error: str | None = None
    _training: dict[str, dict[str, Any]] = field(default_factory=dict)
    _transform: dict[str, dict[str, Any]] = field(default_factory=dict)
    _endpoints: dict[str, int] = field(default_factory=dict)
    _endpoint_config_of: dict[str, str] = field(default_factory=dict)
    _updating_to: dict[str, str] = field(default_factory=dict)
    _models: set[str] = field(default_factory=set)
    _endpoint_configs: set[str] = field(default_factory=set)

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{str(name).lower()}"

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, dict(request)))
        if self.throttle.get(operation, 0) > 0:
            self.throttle[operation] -= 1
            raise client_error(self.throttle_code, "Rate exceeded", operation)
        if self.validate:
            errors = request_errors(operation, request)
            if errors:
                raise client_error("ValidationException", "; ".join(errors), operation)
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise client_error("ValidationException", f"{operation} is not faked", operation)
        return handler(request)  # type: ignore[no-any-return]

    # -- training and transform ---------------------------------------------------------------------------------
    def _CreateTrainingJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request.get("TrainingJobName", "unnamed")
        output = str(request.get("OutputDataConfig", {}).get("S3OutputPath", "s3://bucket/")).rstrip("/")
        job: dict[str, Any] = {"TrainingJobName": name, "TrainingJobArn": self.arn("training-job", name)}
        if name in self.failing_jobs:
            job |= {"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: unknown hyperparameter"}
        else:
            job |= {
                "TrainingJobStatus": "Completed",
                "ModelArtifacts": {"S3ModelArtifacts": f"{output}/{name}/output/model.tar.gz"},
            }
        self._training[name] = job
        return {"TrainingJobArn": job["TrainingJobArn"]}

    def _DescribeTrainingJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        if name not in self._training:
            raise client_error("ValidationException", f"Requested resource not found: {name}", "DescribeTrainingJob")
        return dict(self._training[name])

    def _CreateTransformJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request.get("TransformJobName", "unnamed")
        self._transform[name] = {
            "TransformJobName": name,
            "TransformJobArn": self.arn("transform-job", name),
            "TransformJobStatus": "Completed",
            "ModelName": request.get("ModelName"),
            "TransformOutput": dict(request.get("TransformOutput", {})),
        }
        return {"TransformJobArn": self._transform[name]["TransformJobArn"]}

    def _DescribeTransformJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TransformJobName"]
        if name not in self._transform:
            raise client_error("ValidationException", f"Requested resource not found: {name}", "DescribeTransformJob")
        return dict(self._transform[name])

    # -- models and endpoints -----------------------------------------------------------------------------------
    def _CreateModel(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._models.add(request.get("ModelName", "unnamed"))
        return {"ModelArn": self.arn("model", request.get("ModelName", "unnamed"))}

    def _CreateEndpointConfig(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._endpoint_configs.add(request.get("EndpointConfigName", "unnamed"))
        return {"EndpointConfigArn": self.arn("endpoint-config", request.get("EndpointConfigName", "unnamed"))}

    def _CreateEndpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request.get("EndpointName", "unnamed")
        self._endpoints[name] = self.creating_polls
        self._endpoint_config_of[name] = request.get("EndpointConfigName", "unnamed")
        return {"EndpointArn": self.arn("endpoint", name)}

    def _DescribeEndpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        if name not in self._endpoints:
            raise client_error("ValidationException", f"Could not find endpoint {name}", "DescribeEndpoint")
        status = ("Updating" if name in self._updating_to else "Creating") if self._endpoints[name] > 0 else "InService"
        self._endpoints[name] -= 1
        if status == "InService" and name in self._updating_to:
            self._endpoint_config_of[name] = self._updating_to.pop(name)
        config = self._endpoint_config_of[name]
        return {
            "EndpointName": name,
            "EndpointArn": self.arn("endpoint", name),
            "EndpointConfigName": config,
            "EndpointStatus": status,
        }

    def _UpdateEndpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        if name not in self._endpoints:
            raise client_error("ValidationException", f"Could not find endpoint {name}", "UpdateEndpoint")
        self._endpoints[name] = self.creating_polls
        self._updating_to[name] = request["EndpointConfigName"]
        return {"EndpointArn": self.arn("endpoint", name)}

    def put_metric_alarm(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """CloudWatch's PutMetricAlarm, as the local runner takes it."""
        self.calls.append(("PutMetricAlarm", dict(request)))
        if self.alarm_error:
            raise client_error("ValidationError", self.alarm_error, "PutMetricAlarm")
        self.alarms[request["AlarmName"]] = dict(request)
        return {}

    # -- the failure path: stop and delete ------------------------------------------------------------------------
    def _StopTrainingJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._stop(self._training, request["TrainingJobName"], "TrainingJobStatus", "StopTrainingJob")

    def _StopTransformJob(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._stop(self._transform, request["TransformJobName"], "TransformJobStatus", "StopTransformJob")

    def _stop(self, jobs: dict[str, dict[str, Any]], name: str, status: str, operation: str) -> dict[str, Any]:
        if name not in jobs or jobs[name][status] != "InProgress":
            state = jobs[name][status] if name in jobs else "unknown"
            raise client_error("ValidationException", f"The job {name} is {state}: nothing to stop", operation)
        jobs[name][status] = "Stopped"
        return {}

    def _DeleteModel(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._delete(self._models, request["ModelName"], "DeleteModel")

    def _DeleteEndpointConfig(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._delete(self._endpoint_configs, request["EndpointConfigName"], "DeleteEndpointConfig")

    def _DeleteEndpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if request["EndpointName"] not in self._endpoints:
            raise client_error(
                "ValidationException", f"Could not find endpoint {request['EndpointName']}", "DeleteEndpoint"
            )
        del self._endpoints[request["EndpointName"]]
        return {}

    def _delete(self, names: set[str], name: str, operation: str) -> dict[str, Any]:
        if name not in names:
            raise client_error("ValidationException", f"Could not find {name}", operation)
        names.remove(name)
        return {}

    def live(self) -> set[str]:
        """Models, endpoint configs and endpoints that exist now."""
        return self._models | self._endpoint_configs | set(self._endpoints)
