"""InvokeEndpoint as the SageMaker runtime answers it (botocore ``sagemaker-runtime``; DG hosting pages).

The request is checked against botocore's shape; a body over 6 MB (6,291,456 bytes, botocore ``BodyBlob``) is
refused with HTTP 413 as the front end does (the error code, ``ValidationError``, is our reading); an endpoint
that is not in service is "not found" (``ValidationError``), as AWS answers; with no instance ready the answer
is ``ModelNotReadyException`` (429). The request goes to ``/invocations`` of the chosen instance (or
``/models/{name}/invoke`` on a multi-model endpoint) with the headers InvokeEndpoint forwards. A container
4xx/5xx becomes ``ModelError`` (424) with ``OriginalStatusCode`` and ``OriginalMessage``; no answer within 60 s
becomes the ``ModelError`` AWS gives then (original status 0, "Your invocation timed out ..."). The answer
names the variant that served it (``InvokedProductionVariant``, the ``x-Amzn-Invoked-Production-Variant``
header). Each invocation is counted in the endpoint's metrics.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from byoc_pipelines.local.endpoints import multi_model
from byoc_pipelines.local.endpoints.endpoint import Endpoint
from byoc_pipelines.local.endpoints.errors import RUNTIME, check_request, client_error
from byoc_pipelines.local.endpoints.instances import Answer, Instance, Unreachable
from byoc_pipelines.local.endpoints.models import ModelDataError, model_name

OPERATION = "InvokeEndpoint"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # botocore sagemaker-runtime BodyBlob max: 6,291,456
SERVING = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
FORWARDED = {
    "ContentType": "Content-Type",
    "Accept": "Accept",
    "CustomAttributes": "X-Amzn-SageMaker-Custom-Attributes",
    "TargetModel": "X-Amzn-SageMaker-Target-Model",
    "TargetVariant": "X-Amzn-SageMaker-Target-Variant",
    "TargetContainerHostname": "X-Amzn-SageMaker-Target-Container-Hostname",
    "InferenceId": "X-Amzn-SageMaker-Inference-Id",
    "EnableExplanations": "X-Amzn-SageMaker-Enable-Explanations",
}
TIMED_OUT = (
    "Your invocation timed out while waiting for a response from container primary. Review the latency metrics "
    "for each container in Amazon CloudWatch, resolve the issue, and try again."
)


def body_bytes(body: Any) -> bytes:
    """``Body`` as boto3 takes it: bytes, a string, or a file-like object."""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    read = getattr(body, "read", None)
    if read is None:
        raise client_error("ValidationError", "Body must be bytes, a string or a file-like object", OPERATION)
    data = read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class Runtime:
    """The runtime API of local endpoints: ``invoke_endpoint(**request)`` as boto3 has it."""

    def __init__(self, lookup: Callable[[str], Endpoint | None], region: str, account: str, attempts: int = 3) -> None:
        self.lookup, self.region, self.account, self.attempts = lookup, region, account, attempts

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        return self.invoke(request)

    def invoke(self, request: Mapping[str, Any]) -> dict[str, Any]:
        request = {**request, "Body": body_bytes(request.get("Body", b""))}
        check_request(OPERATION, request, RUNTIME)
        if len(request["Body"]) > MAX_PAYLOAD_BYTES:
            raise client_error(
                "ValidationError",
                f"Request body of {len(request['Body'])} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit",
                OPERATION,
                status=413,
            )
        name = request["EndpointName"]
        endpoint = self.lookup(name)
        if endpoint is None or endpoint.status not in SERVING:
            raise client_error("ValidationError", f"Endpoint {name} of account {self.account} not found.", OPERATION)
        target = request.get("TargetModel")
        prefer = (lambda instance: model_name(target) in instance.loaded) if target else None
        for attempt in range(self.attempts):
            variant, instance = endpoint.route(request.get("TargetVariant"), prefer)
            try:
                return self._forward(endpoint, variant, instance, request)
            except Unreachable:  # nothing was sent: another instance may take it
                instance.unreachable()
                if attempt == self.attempts - 1:
                    raise client_error(
                        "ServiceUnavailable", f"no instance of {name} could be reached", OPERATION
                    ) from None
            finally:
                instance.release()
        raise AssertionError("unreachable")

    def _forward(
        self, endpoint: Endpoint, variant: str, instance: Instance, request: Mapping[str, Any]
    ) -> dict[str, Any]:
        headers = {header: str(request[key]) for key, header in FORWARDED.items() if key in request}
        started = time.perf_counter()
        try:
            answer = self._exchange(endpoint, instance, request, headers)
        except _NoAnswer as exc:  # counted as a 5xx of the model (our reading), then the ModelError AWS gives
            _count(endpoint, variant, 500, time.perf_counter() - started, time.perf_counter() - started)
            raise self.model_error(endpoint, instance, 0, str(exc)) from None
        _count(endpoint, variant, answer.status, answer.seconds, time.perf_counter() - started)
        if answer.status >= 400:
            raise self.model_error(endpoint, instance, answer.status, answer.body.decode("utf-8", errors="replace"))
        if len(answer.body) > MAX_PAYLOAD_BYTES:
            message = f"the model's answer of {len(answer.body)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
            raise self.model_error(endpoint, instance, answer.status, message)
        result: dict[str, Any] = {
            "Body": StreamingBody(io.BytesIO(answer.body), len(answer.body)),
            "ContentType": answer.headers.get("content-type", "application/octet-stream"),
            "InvokedProductionVariant": variant,
        }
        if "x-amzn-sagemaker-custom-attributes" in answer.headers:
            result["CustomAttributes"] = answer.headers["x-amzn-sagemaker-custom-attributes"]
        return result

    def _exchange(
        self, endpoint: Endpoint, instance: Instance, request: Mapping[str, Any], headers: dict[str, str]
    ) -> Timed:
        """The container's answer, timed (a multi-model load included, as in SageMaker's ModelLatency)."""
        target = request.get("TargetModel")
        body = request["Body"]
        started = time.perf_counter()
        try:
            if not instance.model.multi_model:
                answer = instance.request("POST", "/invocations", body, headers)
            elif not target:
                raise client_error(
                    "ValidationError",
                    f"TargetModel is required to invoke multi-model endpoint {endpoint.name}",
                    OPERATION,
                )
            else:
                answer = instance.request(
                    "POST", multi_model.invoke_path(instance, target, endpoint.metrics), body, headers
                )
                if answer.status == 404:  # the container lost it (restarted?): load it again once
                    multi_model.forget(instance, target)
                    path = multi_model.invoke_path(instance, target, endpoint.metrics)
                    answer = instance.request("POST", path, body, headers)
        except ModelDataError as exc:
            raise client_error("ValidationError", str(exc), OPERATION) from None
        except urllib3.exceptions.ReadTimeoutError:
            raise _NoAnswer(TIMED_OUT) from None
        except urllib3.exceptions.ProtocolError as exc:
            raise _NoAnswer(f"the container closed the connection before answering: {exc}") from None
        return Timed(answer.status, answer.headers, answer.body, time.perf_counter() - started)

    def model_error(self, endpoint: Endpoint, instance: Instance, status: int, message: str) -> ClientError:
        kind = "client" if 400 <= status < 500 else "server"
        return client_error(
            "ModelError",
            f'Received {kind} error ({status}) from primary with message "{message}". '
            f'See "docker logs {instance.name}" for the container\'s log.',
            OPERATION,
            OriginalStatusCode=status,
            OriginalMessage=message,
            LogStreamArn=f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/sagemaker/Endpoints/{endpoint.name}",
        )


class _NoAnswer(Exception):
    """The container gave no HTTP answer (timeout, closed connection)."""


@dataclass(frozen=True)
class Timed(Answer):
    seconds: float = 0.0


def _count(endpoint: Endpoint, variant: str, status: int, model_s: float, total_s: float) -> None:
    metrics = endpoint.metrics
    metrics.put(variant, "Invocations", 1)
    metrics.put(variant, "Invocation4XXErrors", int(400 <= status < 500))
    metrics.put(variant, "Invocation5XXErrors", int(status >= 500))
    metrics.put(variant, "ModelLatency", model_s * 1e6)
    metrics.put(variant, "OverheadLatency", max(0.0, total_s - model_s) * 1e6)
