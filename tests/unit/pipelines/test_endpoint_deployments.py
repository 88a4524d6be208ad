"""The deployment engine's steps, rollbacks and statuses, on in-memory fleets (the containers' side is tested in
tests/localmode/test_endpoints.py)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from byoc_pipelines.local.endpoints.deployment import Plan, create
from byoc_pipelines.local.endpoints.endpoint import Endpoint
from byoc_pipelines.local.endpoints.instances import StartupError
from byoc_pipelines.local.endpoints.metrics import Alarm
from byoc_pipelines.local.endpoints.update import Update


class FakeInstance:
    def __init__(self, model: str) -> None:
        self.model, self.state, self.loaded = model, "InService", {}

    def acquire(self) -> bool:
        return self.state == "InService"


class FakeFleet:
    """A fleet without containers: instances of a model that fails to start when its name says so."""

    def __init__(self, config: Mapping[str, Any], variant: Mapping[str, Any], log: list[str]) -> None:
        self.config, self.name, self.model, self.log = (
            config["EndpointConfigName"],
            variant["VariantName"],
            variant["ModelName"],
            log,
        )
        self.instances: list[FakeInstance] = []

    @property
    def size(self) -> int:
        return len(self.instances)

    def ready(self) -> list[FakeInstance]:
        return [i for i in self.instances if i.state == "InService"]

    def pick(self, prefer: Any = None) -> FakeInstance | None:
        return next(iter(self.ready()), None)

    def add(self, count: int) -> None:
        if self.model.startswith("bad") or (self.model.startswith("late") and self.size >= 1 and count):
            raise StartupError(
                f"The primary container for production variant {self.name} did not pass the ping health check"
            )
        self.instances += [FakeInstance(self.model) for _ in range(count)]
        self.log.append(f"+{count} {self.model}")

    def remove(self, count: int) -> None:
        self.instances = self.instances[: self.size - count]
        self.log.append(f"-{count} {self.model}")

    def stop(self) -> None:
        self.instances = []
        self.log.append(f"stop {self.model}")

    def deployed_images(self) -> list[dict[str, Any]]:
        return [{"SpecifiedImage": "img"}]


def config(name: str, model: str, count: int) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": count}],
    }


class Recorded(Update):
    """The green shares the engine set, in order."""

    shares: list[float]

    def _shift(self, shares: Mapping[str, float]) -> None:
        self.shares.append(round(shares["AllTraffic"], 3))
        super()._shift(shares)


def endpoint_with(model: str, count: int, log: list[str]) -> tuple[Endpoint, Any]:
    endpoint = Endpoint(
        "ep", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep", config("old", model, count), random.Random(1)
    )

    def make(cfg: Mapping[str, Any], variant: Mapping[str, Any]) -> Any:
        return FakeFleet(cfg, variant, log)

    create(endpoint, make)
    assert endpoint.status == "InService"
    return endpoint, make


def run_update(endpoint: Endpoint, make: Any, new: dict[str, Any], plan: Plan) -> Recorded:
    update = Recorded(endpoint, new, plan, make)
    update.shares = []
    endpoint.set_status("Updating")
    update.run()
    return update


def test_linear_shifts_step_by_step_then_retires_the_old_fleet() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 5, log)
    routing = {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 0,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 40},
    }
    plan = Plan.from_request({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}})
    update = run_update(endpoint, make, config("new", "v2", 5), plan)
    assert update.shares == [0.4, 0.8, 1.0]
    described = endpoint.describe()
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "new")
    assert described["LastDeploymentConfig"] == plan.request and "PendingDeploymentSummary" not in described
    assert endpoint.route(None)[1].model == "v2"


def test_green_that_never_passes_ping_rolls_back_to_blue() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 2, log)
    run_update(endpoint, make, config("new", "bad", 2), Plan.from_request(None))
    described = endpoint.describe()
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "old")
    assert "did not pass the ping health check" in described["FailureReason"]
    assert endpoint.route(None)[1].model == "v1"


def test_an_alarm_during_baking_rolls_back() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 1, log)
    alarm = Alarm.from_request(
        {
            "AlarmName": "latency",
            "MetricName": "ModelLatency",
            "Statistic": "Maximum",
            "Period": 10,
            "EvaluationPeriods": 1,
            "Threshold": 1000,
            "ComparisonOperator": "GreaterThanThreshold",
            "Namespace": "AWS/SageMaker",
        }
    )
    endpoint.metrics.put("AllTraffic", "ModelLatency", 50_000)
    routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 5}
    plan = Plan.from_request({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}}, (alarm,))
    update = run_update(endpoint, make, config("new", "v2", 1), plan)
    assert update.shares == [1.0]  # all traffic on green; the alarm sent it back to blue
    described = endpoint.describe()
    assert described["EndpointStatus"] == "InService" and "alarm latency went into ALARM" in described["FailureReason"]
    assert "stop v2" in log and endpoint.route(None)[1].model == "v1"


def test_the_execution_limit_rolls_back() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 1, log)
    plan = Plan(request={}, wait_s=5, timeout_s=0.01)  # AWS's minimum is 600 s; the engine takes any limit
    run_update(endpoint, make, config("new", "v2", 1), plan)
    assert "MaximumExecutionTimeoutInSeconds" in endpoint.describe()["FailureReason"]


def rolling(batch: int, rollback: int | None = None) -> Plan:
    policy: dict[str, Any] = {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": batch},
        "WaitIntervalInSeconds": 0,
    }
    if rollback:
        policy["RollbackMaximumBatchSize"] = {"Type": "INSTANCE_COUNT", "Value": rollback}
    return Plan.from_request({"RollingUpdatePolicy": policy})


def test_rolling_replaces_a_batch_at_a_time() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 4, log)
    update = run_update(endpoint, make, config("new", "v2", 4), rolling(2))
    assert log[1:] == ["+2 v2", "-2 v1", "+2 v2", "-2 v1"]
    assert update.shares == [0.333, 0.5, 0.667, 1.0]  # in proportion to each fleet's healthy instances
    assert endpoint.describe()["EndpointConfigName"] == "new"


def test_a_rolling_rollback_brings_the_old_fleet_back_in_batches() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 4, log)
    run_update(endpoint, make, config("new", "late", 4), rolling(2, rollback=1))
    assert log[1:] == ["+2 late", "-2 v1", "+1 v1", "+1 v1", "stop late"]  # the second batch failed
    described = endpoint.describe()
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "old")
    assert endpoint.blue["AllTraffic"].size == 4


def test_a_rollback_with_no_healthy_old_instance_fails() -> None:
    log: list[str] = []
    endpoint, make = endpoint_with("v1", 1, log)
    endpoint.blue["AllTraffic"].instances[0].state = "Unhealthy"
    run_update(endpoint, make, config("new", "bad", 1), Plan.from_request(None))
    described = endpoint.describe()
    assert described["EndpointStatus"] == "UpdateRollbackFailed"
    assert "no healthy old instance" in described["FailureReason"]


def test_create_fails_with_the_reason() -> None:
    endpoint = Endpoint("ep", "arn", config("c", "bad", 1), random.Random(1))
    create(endpoint, lambda cfg, variant: FakeFleet(cfg, variant, []))
    described = endpoint.describe()
    assert described["EndpointStatus"] == "Failed" and "ping health check" in described["FailureReason"]
    assert "ProductionVariants" not in described and "PendingDeploymentSummary" not in described
