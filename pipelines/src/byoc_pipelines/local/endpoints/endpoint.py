"""One endpoint: its fleets, its status as DescribeEndpoint shows it, and the choice of an instance per request.

Traffic goes to a production variant in proportion to its weight (``InitialVariantWeight``, then
``UpdateEndpointWeightsAndCapacities``) unless the request names a ``TargetVariant``. During a deployment a
variant has two fleets, blue (the current config's) and green (the new one's), and the deployment engine sets
the share of the variant's traffic the green fleet takes; the instances of a fleet share its part round-robin.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from byoc_pipelines.local.endpoints.errors import client_error
from byoc_pipelines.local.endpoints.fleet import Fleet
from byoc_pipelines.local.endpoints.instances import Instance
from byoc_pipelines.local.endpoints.metrics import Metrics

logger = logging.getLogger(__name__)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class VariantStatus:
    status: str  # Creating, Updating, Deleting, ActivatingTraffic, Baking (botocore VariantStatus)
    message: str = ""
    start: datetime.datetime = field(default_factory=now)

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {"Status": self.status, "StartTime": self.start}
        if self.message:
            found["StatusMessage"] = self.message
        return found


@dataclass
class Pending:
    """A deployment under way: the config it deploys, when it started, each variant's stage."""

    config: Mapping[str, Any]
    started: datetime.datetime = field(default_factory=now)
    stages: dict[str, VariantStatus] = field(default_factory=dict)


class Endpoint:
    """An endpoint's state; every change happens under ``lock``."""

    def __init__(self, name: str, arn: str, config: Mapping[str, Any], rng: random.Random) -> None:
        self.name, self.arn, self.config = name, arn, dict(config)
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.created = self.modified = now()
        self.last_deployment_config: dict[str, Any] | None = None
        self.pending: Pending | None = Pending(config)
        self.weights: dict[str, float] = {}
        self.desired: dict[str, dict[str, float]] = {}  # UpdateEndpointWeightsAndCapacities under way
        self.blue: dict[str, Fleet] = {}
        self.green: dict[str, Fleet] = {}
        self.green_share: dict[str, float] = {}
        self.retiring: list[Fleet] = []  # old fleets waiting out TerminationWaitInSeconds
        self.metrics = Metrics()
        self.lock = threading.RLock()
        self.closed = threading.Event()  # DeleteEndpoint: work under way stops at its next step
        self.rng = rng

    # -- state changes -----------------------------------------------------------------------------------------
    def set_status(self, status: str, reason: str | None = None) -> None:
        with self.lock:
            logger.info("endpoint %s: %s -> %s%s", self.name, self.status, status, f" ({reason})" if reason else "")
            self.status, self.modified = status, now()
            if reason is not None:
                self.failure_reason = reason[:1024]  # botocore FailureReason: at most 1024 characters

    def stage(self, variant: str, status: str, message: str = "") -> None:
        with self.lock:
            if self.pending is not None:
                self.pending.stages[variant] = VariantStatus(status, message)

    def fleets(self) -> list[Fleet]:
        with self.lock:
            return [*self.blue.values(), *self.green.values(), *self.retiring]

    def instances(self) -> list[Instance]:
        return [instance for fleet in self.fleets() for instance in fleet.instances]

    # -- routing -------------------------------------------------------------------------------------------------
    def variant_names(self) -> list[str]:
        with self.lock:
            return list(dict.fromkeys([*self.blue, *self.green]))

    def choose_variant(self, target_variant: str | None) -> str:
        with self.lock:
            names, weights = self.variant_names(), dict(self.weights)
        if target_variant:
            if target_variant not in names:
                raise client_error(
                    "ValidationError",
                    f"TargetVariant {target_variant} is not a production variant of endpoint {self.name} "
                    f"(variants: {', '.join(names)})",
                    "InvokeEndpoint",
                )
            return target_variant
        candidates = [(name, weights.get(name, 0.0)) for name in names if weights.get(name, 0.0) > 0]
        if not candidates:
            raise client_error(
                "ValidationError", f"every production variant of endpoint {self.name} has weight 0", "InvokeEndpoint"
            )
        pick = self.rng.random() * sum(weight for _, weight in candidates)
        for name, weight in candidates:
            pick -= weight
            if pick < 0:
                return name
        return candidates[-1][0]

    def route(
        self, target_variant: str | None, prefer: Callable[[Instance], bool] | None = None
    ) -> tuple[str, Instance]:
        """``(variant, instance)`` for one request, the instance's request counted in flight; 429 when none is ready."""
        variant = self.choose_variant(target_variant)
        with self.lock:
            blue, green, share = self.blue.get(variant), self.green.get(variant), self.green_share.get(variant, 0.0)
        order = [green, blue] if green is not None and self.rng.random() < share else [blue, green]
        for fleet in order:
            instance = fleet.pick(prefer) if fleet is not None else None
            if instance is not None:
                return variant, instance
        raise client_error(
            "ModelNotReadyException",
            f"no instance of variant {variant} of endpoint {self.name} is ready to take the request; try again",
            "InvokeEndpoint",
        )

    # -- DescribeEndpoint ----------------------------------------------------------------------------------------
    def _variant_summary(self, fleet: Fleet) -> dict[str, Any]:
        name = fleet.name
        desired = self.desired.get(name, {})
        summary: dict[str, Any] = {
            "VariantName": name,
            "DeployedImages": fleet.deployed_images(),
            "CurrentWeight": self.weights.get(name, 0.0),
            "DesiredWeight": desired.get("DesiredWeight", self.weights.get(name, 0.0)),
            "CurrentInstanceCount": len(fleet.ready()),
            "DesiredInstanceCount": int(desired.get("DesiredInstanceCount", fleet.size)),
        }
        if desired:
            summary["VariantStatus"] = [VariantStatus("Updating").summary()]
        return summary

    def _pending_summary(self, pending: Pending) -> dict[str, Any]:
        variants = []
        for spec in pending.config["ProductionVariants"]:
            name = spec["VariantName"]
            fleet = self.green.get(name) or (self.blue.get(name) if self.status == "Creating" else None)
            entry: dict[str, Any] = {
                "VariantName": name,
                "CurrentWeight": self.weights.get(name, 0.0)
                if self.status == "Creating"
                else self.green_share.get(name, 0.0),
                "DesiredWeight": float(spec.get("InitialVariantWeight", 1.0)),
                "CurrentInstanceCount": len(fleet.ready()) if fleet else 0,
                "DesiredInstanceCount": int(spec.get("InitialInstanceCount", 1)),
            }
            if fleet is not None:
                entry["DeployedImages"] = fleet.deployed_images()
            if spec.get("InstanceType"):
                entry["InstanceType"] = spec["InstanceType"]
            if name in pending.stages:
                entry["VariantStatus"] = [pending.stages[name].summary()]
            variants.append(entry)
        return {
            "EndpointConfigName": pending.config["EndpointConfigName"],
            "ProductionVariants": variants,
            "StartTime": pending.started,
        }

    def describe(self) -> dict[str, Any]:
        with self.lock:
            described: dict[str, Any] = {
                "EndpointName": self.name,
                "EndpointArn": self.arn,
                "EndpointConfigName": self.config["EndpointConfigName"],
                "EndpointStatus": self.status,
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
            }
            if self.blue and self.status != "Creating":
                described["ProductionVariants"] = [self._variant_summary(fleet) for fleet in self.blue.values()]
            if self.failure_reason:
                described["FailureReason"] = self.failure_reason
            if self.last_deployment_config:
                described["LastDeploymentConfig"] = self.last_deployment_config
            if self.pending is not None:
                described["PendingDeploymentSummary"] = self._pending_summary(self.pending)
            return described

    def summary(self) -> dict[str, Any]:
        """ListEndpoints' entry."""
        with self.lock:
            return {
                "EndpointName": self.name,
                "EndpointArn": self.arn,
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
                "EndpointStatus": self.status,
            }
