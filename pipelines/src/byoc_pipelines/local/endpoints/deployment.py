"""Deployments: an endpoint's fleets brought up, changed or replaced, each in a thread of its own.

What AWS documents (botocore ``DeploymentConfig``; DG "Deployment guardrails"), done here: UpdateEndpoint
provisions a new (green) fleet while the old (blue) one serves; ``ALL_AT_ONCE`` shifts all traffic, ``CANARY``
first ``CanarySize`` (at most 50% of a variant's instances) then the rest, ``LINEAR`` steps of ``LinearStepSize``
(10-50%); after each shift a baking period of ``WaitIntervalInSeconds`` during which any alarm of
``AutoRollbackConfiguration`` sends all traffic back to blue; the blue fleet goes ``TerminationWaitInSeconds``
after the end; ``MaximumExecutionTimeoutInSeconds`` bounds the whole. ``RollingUpdatePolicy`` replaces
``MaximumBatchSize`` instances (5-50%) at a time, baking after each batch, and rolls back
``RollbackMaximumBatchSize`` at a time (default all). Without DeploymentConfig an update is blue/green all at
once without baking. Statuses: Updating, RollingBack, then InService (on the new config, or on the old one with
``FailureReason``), or UpdateRollbackFailed when the old fleet cannot take the traffic back.

Our reading where AWS is silent: a green instance that never passes /ping fails the update (rolled back through
RollingBack like an alarm); a CAPACITY_PERCENT step is that share of the variant's traffic, an INSTANCE_COUNT
step that many instances' share; the endpoint is InService as soon as all traffic is on green, the blue fleet
stopped in the background after ``TerminationWaitInSeconds``; alarms are checked every 0.2 s of a baking period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.local.endpoints.endpoint import Endpoint
from byoc_pipelines.local.endpoints.errors import validation
from byoc_pipelines.local.endpoints.fleet import Fleet
from byoc_pipelines.local.endpoints.instances import StartupError
from byoc_pipelines.local.endpoints.metrics import Alarm
from byoc_pipelines.local.endpoints.models import ModelDataError

logger = logging.getLogger(__name__)

FleetFactory = Callable[[Mapping[str, Any], Mapping[str, Any]], Fleet]  # (endpoint config, variant) -> fleet
CHECK_S = 0.2
# AWS's ranges for each traffic step (botocore TrafficRoutingConfig, RollingUpdatePolicy docs).
_RANGES = {"CanarySize": (0.0, 0.5), "LinearStepSize": (0.1, 0.5), "MaximumBatchSize": (0.05, 0.5)}


class RollBack(Exception):
    """The deployment cannot go on; the message becomes FailureReason."""


class Cancelled(Exception):
    """DeleteEndpoint came while the work was under way."""


def fraction(size: Mapping[str, Any], count: int) -> float:
    """A ``CapacitySize`` as a share of a variant of ``count`` instances."""
    value = float(size["Value"])
    return value / max(count, 1) if size["Type"] == "INSTANCE_COUNT" else value / 100.0


@dataclass(frozen=True)
class Plan:
    """A DeploymentConfig, checked against the endpoint and the new config."""

    request: Mapping[str, Any] | None
    rolling: bool = False
    traffic: str = "ALL_AT_ONCE"
    wait_s: float = 0.0
    termination_wait_s: float = 0.0
    timeout_s: float | None = None
    step: Mapping[str, Any] | None = None  # CanarySize, LinearStepSize or MaximumBatchSize
    rollback_step: Mapping[str, Any] | None = None
    alarms: tuple[Alarm, ...] = field(default_factory=tuple)

    @classmethod
    def from_request(cls, request: Mapping[str, Any] | None, alarms: tuple[Alarm, ...] = ()) -> Plan:
        if not request:
            return cls(None, alarms=alarms)
        rolling = request.get("RollingUpdatePolicy")
        if rolling:
            return cls(
                request,
                rolling=True,
                wait_s=float(rolling["WaitIntervalInSeconds"]),
                timeout_s=rolling.get("MaximumExecutionTimeoutInSeconds"),
                step=rolling["MaximumBatchSize"],
                rollback_step=rolling.get("RollbackMaximumBatchSize"),
                alarms=alarms,
            )
        policy = request.get("BlueGreenUpdatePolicy") or {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}
        routing = policy["TrafficRoutingConfiguration"]
        return cls(
            request,
            traffic=routing["Type"],
            wait_s=float(routing.get("WaitIntervalInSeconds", 0)),
            termination_wait_s=float(policy.get("TerminationWaitInSeconds", 0)),
            timeout_s=policy.get("MaximumExecutionTimeoutInSeconds"),
            step=routing.get("CanarySize") or routing.get("LinearStepSize"),
            alarms=alarms,
        )

    @property
    def step_field(self) -> str:
        return "MaximumBatchSize" if self.rolling else "CanarySize" if self.traffic == "CANARY" else "LinearStepSize"

    def check(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """AWS's rules for a DeploymentConfig; a ValidationException naming the first broken one."""
        if self.request is None:
            return
        if self.request.get("BlueGreenUpdatePolicy") and self.request.get("RollingUpdatePolicy"):
            raise validation("give BlueGreenUpdatePolicy or RollingUpdatePolicy, not both", "UpdateEndpoint")
        names = sorted(v["VariantName"] for v in new["ProductionVariants"])
        if names != sorted(v["VariantName"] for v in old["ProductionVariants"]):
            raise validation(
                f"with a DeploymentConfig the new config's variants ({', '.join(names)}) must be the endpoint's",
                "UpdateEndpoint",
            )
        if self.traffic in ("CANARY", "LINEAR") and self.step is None:
            raise validation(f"{self.traffic} traffic routing needs {self.step_field}", "UpdateEndpoint")
        if self.step is None:
            return
        low, high = _RANGES[self.step_field]
        for variant in new["ProductionVariants"]:
            share = fraction(self.step, int(variant.get("InitialInstanceCount", 1)))
            if not low <= share <= high:
                raise validation(
                    f"{self.step_field} {self.step['Value']} ({self.step['Type']}) is {share:.0%} of variant "
                    f"{variant['VariantName']}; it must be {low:.0%}-{high:.0%} of its instances",
                    "UpdateEndpoint",
                )

    def shares(self, counts: Mapping[str, int]) -> list[dict[str, float]]:
        """Each blue/green traffic step: the green share of every variant."""
        if self.traffic == "ALL_AT_ONCE" or self.step is None:
            return [dict.fromkeys(counts, 1.0)]
        per_variant = {name: fraction(self.step, count) for name, count in counts.items()}
        if self.traffic == "CANARY":
            return [per_variant, dict.fromkeys(counts, 1.0)]
        steps = max(int(-(-1 // share)) for share in per_variant.values())  # ceil(1 / share)
        return [{name: min(1.0, k * share) for name, share in per_variant.items()} for k in range(1, steps + 1)]


def provision(fleets: Mapping[str, Fleet], counts: Mapping[str, int]) -> None:
    """Bring up every fleet (in parallel); StartupError names the first variant that failed."""
    errors: dict[str, str] = {}

    def bring_up(name: str) -> None:
        try:
            fleets[name].add(counts[name])
        except (StartupError, ModelDataError) as exc:
            errors[name] = str(exc)

    threads = [threading.Thread(target=bring_up, args=(name,), daemon=True) for name in fleets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise StartupError(next(iter(errors.values())))


def stop_fleets(fleets: list[Fleet]) -> None:
    threads = [threading.Thread(target=fleet.stop, daemon=True) for fleet in fleets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def counts_of(config: Mapping[str, Any]) -> dict[str, int]:
    return {v["VariantName"]: int(v.get("InitialInstanceCount", 1)) for v in config["ProductionVariants"]}


def weights_of(config: Mapping[str, Any]) -> dict[str, float]:
    return {v["VariantName"]: float(v.get("InitialVariantWeight", 1.0)) for v in config["ProductionVariants"]}


def create(endpoint: Endpoint, make_fleet: FleetFactory) -> None:
    """CreateEndpoint's work: Creating -> InService, or Failed with the reason (nothing left running)."""
    config = endpoint.config
    try:
        fleets = {v["VariantName"]: make_fleet(config, v) for v in config["ProductionVariants"]}
        with endpoint.lock:
            endpoint.blue, endpoint.weights = fleets, weights_of(config)
        for name in fleets:
            endpoint.stage(name, "Creating")
        provision(fleets, counts_of(config))
    except (StartupError, ModelDataError) as exc:
        stop_fleets(endpoint.fleets())
        with endpoint.lock:
            endpoint.pending, endpoint.blue = None, {}
        endpoint.set_status("Failed", str(exc))
        return
    with endpoint.lock:
        endpoint.pending = None
    if not endpoint.closed.is_set():
        endpoint.set_status("InService")


def retire(endpoint: Endpoint, fleets: list[Fleet], wait_s: float) -> None:
    """Stop old fleets after ``wait_s`` (TerminationWaitInSeconds), in the background."""

    def work() -> None:
        endpoint.closed.wait(wait_s)
        stop_fleets(fleets)
        with endpoint.lock:
            endpoint.retiring = [fleet for fleet in endpoint.retiring if fleet not in fleets]

    threading.Thread(target=work, name=f"retire-{endpoint.name}", daemon=True).start()
