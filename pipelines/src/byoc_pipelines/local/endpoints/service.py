"""Local SageMaker endpoints: the control plane's endpoint operations on AWS's request dicts, and InvokeEndpoint.

Requests are checked against botocore's shapes and answered as AWS answers them (ARNs, statuses, the
``ValidationException`` messages for missing, duplicate or busy resources). Endpoint work (bringing fleets up,
deployments, scaling) runs in background threads, as on AWS: poll DescribeEndpoint. Models come from the
caller's ``describe_model`` (SDK local mode's, through :class:`byoc_pipelines.local.runner.LocalModeRunner`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from byoc_pipelines.local.endpoints import deployment, update
from byoc_pipelines.local.endpoints.endpoint import Endpoint, Pending, now
from byoc_pipelines.local.endpoints.errors import check_request, not_found, validation
from byoc_pipelines.local.endpoints.fleet import Context, Fleet
from byoc_pipelines.local.endpoints.front import Front
from byoc_pipelines.local.endpoints.instances import docker_client
from byoc_pipelines.local.endpoints.listing import listed
from byoc_pipelines.local.endpoints.metrics import Alarm
from byoc_pipelines.local.endpoints.models import ModelData, ModelDataError, ModelSpec
from byoc_pipelines.local.endpoints.monitor import HealthMonitor
from byoc_pipelines.local.endpoints.runtime import Runtime

logger = logging.getLogger(__name__)

OPERATIONS = frozenset(
    {
        "CreateEndpointConfig",
        "DescribeEndpointConfig",
        "DeleteEndpointConfig",
        "ListEndpointConfigs",
        "CreateEndpoint",
        "DescribeEndpoint",
        "ListEndpoints",
        "DeleteEndpoint",
        "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "InvokeEndpoint",
    }
)
ModelLookup = Callable[[str], Mapping[str, Any]]  # DescribeModel


class Endpoints:
    """``endpoints.call("CreateEndpoint", {...})``; ``endpoints.runtime.invoke_endpoint(...)``; ``close()``."""

    def __init__(
        self,
        describe_model: ModelLookup,
        root: Path,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        labels: Mapping[str, str] | None = None,
        invocation_timeout_s: float = 60.0,
        startup_timeout_s: float | None = None,
        ping_interval_s: float = 5.0,
        seed: int | None = None,
        docker: Any = None,
    ) -> None:
        self.describe_model, self.region, self.account = describe_model, region, account
        self._own_docker = docker is None
        self.ctx = Context(
            docker or docker_client(),
            dict(labels or {}),
            root,
            ModelData(root / "models"),
            invocation_timeout_s,
            startup_timeout_s,
        )
        self._configs: dict[str, dict[str, Any]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self.alarms: dict[str, Alarm] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.runtime = Runtime(self._endpoints.get, region, account)
        self.monitor = HealthMonitor(self.endpoints, ping_interval_s)
        self._front: Front | None = None

    @property
    def url(self) -> str:
        """The HTTP address of these endpoints (started on first use), for boto3 clients' ``endpoint_url``."""
        with self._lock:
            if self._front is None:
                self._front = Front(self)
            return self._front.url

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def endpoints(self) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints.values())

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """One operation of :data:`OPERATIONS`, as the AWS API answers it (a ``ClientError`` for an error)."""
        if operation == "InvokeEndpoint":
            return self.runtime.invoke(request)
        if operation not in OPERATIONS:
            raise validation(f"local endpoints do not implement {operation}", operation)
        check_request(operation, dict(request))
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, f"_{xform_name(operation)}")
        return handler(dict(request))

    # -- alarms (CloudWatch's PutMetricAlarm) --------------------------------------------------------------------
    def put_metric_alarm(self, **request: Any) -> dict[str, Any]:
        """Define (or replace) an alarm that AutoRollbackConfiguration may name; the request is CloudWatch's."""
        alarm = Alarm.from_request(request)
        self.alarms[alarm.name] = alarm
        return {}

    def metrics(self, endpoint_name: str) -> dict[str, dict[str, float]]:
        """Per variant, the endpoint's metrics of the last hour (sums of counts, averages of latencies)."""
        return self._endpoint(endpoint_name, "GetMetricStatistics").metrics.totals()

    # -- endpoint configs ----------------------------------------------------------------------------------------
    def _model(self, name: str, operation: str) -> ModelSpec:
        try:
            return ModelSpec.from_description(self.describe_model(name))
        except ClientError:
            raise not_found("model", self.arn("model", name), operation) from None
        except ModelDataError as exc:
            raise validation(str(exc), operation) from None

    def _create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        arn = self.arn("endpoint-config", name)
        if any(known.lower() == name.lower() for known in self._configs):
            raise validation(f'Cannot create already existing endpoint configuration "{arn}".', "CreateEndpointConfig")
        variants = request["ProductionVariants"]
        if len({v["VariantName"] for v in variants}) != len(variants):
            raise validation("each production variant needs a name of its own", "CreateEndpointConfig")
        for variant in variants:
            if "ServerlessConfig" in variant or "ModelName" not in variant:
                raise validation(
                    f"variant {variant['VariantName']}: local endpoints serve instance-based variants of a model",
                    "CreateEndpointConfig",
                )
            self._model(variant["ModelName"], "CreateEndpointConfig")
        request.pop("Tags", None)
        self._configs[name] = {**request, "EndpointConfigArn": arn, "CreationTime": now()}
        return {"EndpointConfigArn": arn}

    def _config(self, name: str, operation: str) -> dict[str, Any]:
        if name not in self._configs:
            raise not_found("endpoint configuration", self.arn("endpoint-config", name), operation)
        return self._configs[name]

    def _describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(self._config(request["EndpointConfigName"], "DescribeEndpointConfig"))

    def _delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        self._config(request["EndpointConfigName"], "DeleteEndpointConfig")
        del self._configs[request["EndpointConfigName"]]
        return {}

    def _list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        entries = [
            {key: config[key] for key in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")}
            for config in self._configs.values()
        ]
        page, token = listed(entries, request, "EndpointConfigName")
        return {"EndpointConfigs": page, **({"NextToken": token} if token else {})}

    # -- endpoints -----------------------------------------------------------------------------------------------
    def _endpoint(self, name: str, operation: str) -> Endpoint:
        with self._lock:
            found = self._endpoints.get(name)
        if found is None:
            raise not_found("endpoint", self.arn("endpoint", name), operation)
        return found

    def _fleets_of(self, endpoint: Endpoint) -> deployment.FleetFactory:
        def make(config: Mapping[str, Any], variant: Mapping[str, Any]) -> Fleet:
            try:
                model = self._model(variant["ModelName"], "CreateEndpoint")
            except ClientError as exc:
                raise ModelDataError(str(exc)) from None
            return Fleet(endpoint.name, config["EndpointConfigName"], variant, model, self.ctx)

        return make

    def _start(self, endpoint: Endpoint, work: Callable[[], None]) -> None:
        threading.Thread(target=work, name=f"endpoint-{endpoint.name}", daemon=True).start()
        self.monitor.start()

    def _create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        arn = self.arn("endpoint", name)
        config = self._config(request["EndpointConfigName"], "CreateEndpoint")
        with self._lock:
            if any(known.lower() == name.lower() for known in self._endpoints):
                raise validation(f'Cannot create already existing endpoint "{arn}".', "CreateEndpoint")
            endpoint = Endpoint(name, arn, config, self._rng)
            endpoint.last_deployment_config = request.get("DeploymentConfig")
            self._endpoints[name] = endpoint
        self._start(endpoint, lambda: deployment.create(endpoint, self._fleets_of(endpoint)))
        return {"EndpointArn": arn}

    def _describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._endpoint(request["EndpointName"], "DescribeEndpoint").describe()

    def _list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        page, token = listed([e.summary() for e in self.endpoints()], request, "EndpointName", "EndpointStatus")
        return {"Endpoints": page, **({"NextToken": token} if token else {})}

    def _delete_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(request["EndpointName"], "DeleteEndpoint")
        endpoint.closed.set()
        endpoint.set_status("Deleting")
        deployment.stop_fleets(endpoint.fleets())
        with self._lock:
            self._endpoints.pop(endpoint.name, None)
        return {}

    def _busy(self, endpoint: Endpoint, operation: str) -> None:
        if endpoint.status != "InService":
            raise validation(f'Cannot update in-progress endpoint "{endpoint.arn}".', operation)

    def _update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(request["EndpointName"], "UpdateEndpoint")
        self._busy(endpoint, "UpdateEndpoint")
        config = retained(endpoint, self._config(request["EndpointConfigName"], "UpdateEndpoint"), request)
        for variant in config["ProductionVariants"]:
            self._model(variant["ModelName"], "UpdateEndpoint")
        given = request.get("DeploymentConfig")
        if given is None and request.get("RetainDeploymentConfig"):
            given = endpoint.last_deployment_config
        names = [a["AlarmName"] for a in ((given or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        unknown = [name for name in names if name not in self.alarms]
        if unknown:
            raise validation(f"no alarm named {', '.join(unknown)}: define it with put_metric_alarm", "UpdateEndpoint")
        plan = deployment.Plan.from_request(given, tuple(self.alarms[name] for name in names))
        plan.check(endpoint.config, config)
        with endpoint.lock:
            endpoint.pending, endpoint.failure_reason = Pending(config), None
        endpoint.set_status("Updating")
        work = update.Update(endpoint, config, plan, self._fleets_of(endpoint))
        self._start(endpoint, work.run)
        return {"EndpointArn": endpoint.arn}

    def _update_endpoint_weights_and_capacities(self, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(request["EndpointName"], "UpdateEndpointWeightsAndCapacities")
        self._busy(endpoint, "UpdateEndpointWeightsAndCapacities")
        desired = request["DesiredWeightsAndCapacities"]
        for entry in desired:
            if entry["VariantName"] not in endpoint.blue:
                raise validation(
                    f"The variant {entry['VariantName']} does not exist in endpoint {endpoint.name}.",
                    "UpdateEndpointWeightsAndCapacities",
                )
            if entry.get("DesiredInstanceCount", 1) < 1:
                raise validation("DesiredInstanceCount must be at least 1", "UpdateEndpointWeightsAndCapacities")
        with endpoint.lock:  # weights change at once, without a restart
            for entry in desired:
                if "DesiredWeight" in entry:
                    endpoint.weights[entry["VariantName"]] = float(entry["DesiredWeight"])
            endpoint.desired = {entry["VariantName"]: dict(entry) for entry in desired}
            endpoint.failure_reason = None
        endpoint.set_status("Updating")
        self._start(endpoint, lambda: update.scale(endpoint, desired))
        return {"EndpointArn": endpoint.arn}

    def close(self) -> None:
        """Delete every endpoint (their containers drained and stopped) and stop the health checks."""
        self.monitor.stop()

        def delete(name: str) -> None:
            with contextlib.suppress(ClientError):  # deleted meanwhile
                self._delete_endpoint({"EndpointName": name})

        threads = [threading.Thread(target=delete, args=(e.name,), daemon=True) for e in self.endpoints()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._front is not None:
            self._front.close()
        if self._own_docker:
            self.ctx.docker.close()


def retained(endpoint: Endpoint, config: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """The config to deploy: with RetainAllVariantProperties, the endpoint's weights and instance counts kept
    (but those ExcludeRetainedVariantProperties names)."""
    if not request.get("RetainAllVariantProperties"):
        return dict(config)
    excluded = {p["VariantPropertyType"] for p in request.get("ExcludeRetainedVariantProperties", [])}
    variants = []
    for variant in config["ProductionVariants"]:
        kept = dict(variant)
        name = variant["VariantName"]
        if name in endpoint.blue and "DesiredWeight" not in excluded:
            kept["InitialVariantWeight"] = endpoint.weights.get(name, 1.0)
        if name in endpoint.blue and "DesiredInstanceCount" not in excluded:
            kept["InitialInstanceCount"] = endpoint.blue[name].size
        variants.append(kept)
    return {**config, "ProductionVariants": variants}
