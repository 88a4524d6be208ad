"""UpdateEndpoint's engine (blue/green or rolling, baking, automatic rollback) and
UpdateEndpointWeightsAndCapacities'. The rules it follows, and where they come from, are in
:mod:`byoc_pipelines.local.endpoints.deployment`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from byoc_pipelines.local.endpoints.deployment import (
    CHECK_S,
    Cancelled,
    FleetFactory,
    Plan,
    RollBack,
    counts_of,
    fraction,
    provision,
    retire,
    stop_fleets,
    weights_of,
)
from byoc_pipelines.local.endpoints.endpoint import Endpoint
from byoc_pipelines.local.endpoints.fleet import Fleet
from byoc_pipelines.local.endpoints.instances import StartupError
from byoc_pipelines.local.endpoints.metrics import first_breach
from byoc_pipelines.local.endpoints.models import ModelDataError

logger = logging.getLogger(__name__)


class Update:
    """One UpdateEndpoint, run by :meth:`run` in its own thread."""

    def __init__(self, endpoint: Endpoint, config: Mapping[str, Any], plan: Plan, make_fleet: FleetFactory) -> None:
        self.endpoint, self.config, self.plan, self.make_fleet = endpoint, config, plan, make_fleet
        self.counts = counts_of(config)
        self.started = time.monotonic()
        with endpoint.lock:
            self.blue_counts = {name: fleet.size for name, fleet in endpoint.blue.items()}

    def run(self) -> None:
        try:
            self._rolling() if self.plan.rolling else self._blue_green()
        except Cancelled:
            return
        except RollBack as exc:
            self._roll_back(str(exc))
        except (StartupError, ModelDataError) as exc:
            self._roll_back(f"Failed to update endpoint {self.endpoint.name}: {exc}")
        except Exception as exc:  # a bug of ours must still leave the endpoint in a state AWS has
            logger.exception("update of %s failed", self.endpoint.name)
            self._roll_back(f"the update failed: {exc}")

    # -- blue/green ----------------------------------------------------------------------------------------------
    def _blue_green(self) -> None:
        green = {v["VariantName"]: self.make_fleet(self.config, v) for v in self.config["ProductionVariants"]}
        with self.endpoint.lock:
            self.endpoint.green = green
            same_variants = set(green) == set(self.endpoint.blue)
        for name in green:
            self.endpoint.stage(name, "Creating")
        provision(green, self.counts)
        self._check_cancelled()
        if same_variants:
            for shares in self.plan.shares(self.counts):
                self._shift(shares)
                self._bake()
        self._finish()

    def _shift(self, shares: Mapping[str, float]) -> None:
        with self.endpoint.lock:
            self.endpoint.green_share = dict(shares)
        for name, share in shares.items():
            self.endpoint.stage(name, "Baking", f"{share:.0%} of the variant's traffic on the new fleet")

    def _bake(self) -> None:
        """Watch the alarms, the green fleet's health and the time limit for WaitIntervalInSeconds."""
        until = time.monotonic() + self.plan.wait_s
        while True:
            breach = first_breach(
                [a for a in self.plan.alarms if a.applies_to(self.endpoint.name)], self.endpoint.metrics
            )
            if breach:
                raise RollBack(f"Rolled back to {self.endpoint.config['EndpointConfigName']}: {breach}")
            with self.endpoint.lock:
                green = dict(self.endpoint.green)
            for name, fleet in green.items():
                if not fleet.ready():
                    raise RollBack(f"Rolled back: no instance of the new fleet of variant {name} passes /ping")
            self._check_time()
            self._check_cancelled()
            if time.monotonic() >= until:
                return
            time.sleep(CHECK_S)

    def _check_time(self) -> None:
        limit = self.plan.timeout_s
        if limit is not None and time.monotonic() - self.started > limit:
            raise RollBack(f"Rolled back: the update took longer than MaximumExecutionTimeoutInSeconds ({limit} s)")

    def _check_cancelled(self) -> None:
        if self.endpoint.closed.is_set():
            raise Cancelled

    def _finish(self) -> None:
        """All traffic on the new fleets: the endpoint runs the new config; the old fleets go after a while."""
        endpoint = self.endpoint
        with endpoint.lock:
            old = [fleet for fleet in endpoint.blue.values() if fleet.size]
            endpoint.blue, endpoint.green, endpoint.green_share = endpoint.green, {}, {}
            endpoint.weights = weights_of(self.config)
            endpoint.config = dict(self.config)
            endpoint.pending = None
            endpoint.retiring.extend(old)
            endpoint.failure_reason = None
            if self.plan.request:
                endpoint.last_deployment_config = dict(self.plan.request)
        endpoint.set_status("InService")
        retire(endpoint, old, self.plan.termination_wait_s)

    # -- rolling -------------------------------------------------------------------------------------------------
    def _rolling(self) -> None:
        green = {v["VariantName"]: self.make_fleet(self.config, v) for v in self.config["ProductionVariants"]}
        with self.endpoint.lock:
            self.endpoint.green = green
            blue = dict(self.endpoint.blue)
        assert self.plan.step is not None  # checked by Plan.check
        batch = {name: max(1, round(fraction(self.plan.step, count) * count)) for name, count in self.counts.items()}
        while any(green[name].size < count for name, count in self.counts.items()):
            added = {}
            for name, count in self.counts.items():
                added[name] = min(batch[name], count - green[name].size)
                if added[name]:
                    self.endpoint.stage(name, "Creating", f"{added[name]} new instance(s)")
            provision(green, added)
            self._rebalance(green, blue)
            for name, count in added.items():
                blue[name].remove(min(count, blue[name].size))
            self._rebalance(green, blue)
            self._bake()
        self._finish()

    def _rebalance(self, green: Mapping[str, Fleet], blue: Mapping[str, Fleet]) -> None:
        """Route in proportion to the healthy instances of each fleet."""
        shares = {}
        for name, fleet in green.items():
            new, old = len(fleet.ready()), len(blue[name].ready()) if name in blue else 0
            shares[name] = new / (new + old) if new + old else 0.0
        self._shift(shares)

    # -- rollback ------------------------------------------------------------------------------------------------
    def _roll_back(self, reason: str) -> None:
        endpoint = self.endpoint
        logger.warning("endpoint %s: %s", endpoint.name, reason)
        endpoint.set_status("RollingBack")
        failed = None
        if self.plan.rolling:
            failed = self._restore_blue()
        with endpoint.lock:
            green = list(endpoint.green.values())
            endpoint.green_share = dict.fromkeys(endpoint.green, 0.0)
        stop_fleets(green)  # each green instance drains what it still has before it stops
        with endpoint.lock:
            endpoint.green, endpoint.green_share, endpoint.pending = {}, {}, None
            if self.plan.request:
                endpoint.last_deployment_config = dict(self.plan.request)
            healthy = all(fleet.ready() for fleet in endpoint.blue.values())
        if failed or not healthy:
            endpoint.set_status(
                "UpdateRollbackFailed", f"{reason}; the rollback failed: {failed or 'no healthy old instance'}"
            )
        else:
            endpoint.set_status("InService", reason)

    def _restore_blue(self) -> str | None:
        """Rolling: bring the old fleets back to their size, RollbackMaximumBatchSize at a time (default all)."""
        with self.endpoint.lock:
            blue, green = dict(self.endpoint.blue), dict(self.endpoint.green)
        try:
            while any(blue[name].size < count for name, count in self.blue_counts.items()):
                added = {}
                for name, count in self.blue_counts.items():
                    missing = count - blue[name].size
                    size = self.plan.rollback_step
                    step = max(1, round(fraction(size, count) * count)) if size else missing
                    added[name] = min(step, missing)
                provision(blue, added)
                self._rebalance(green, blue)
        except (StartupError, ModelDataError) as exc:
            return str(exc)
        return None


def scale(endpoint: Endpoint, desired: list[Mapping[str, Any]]) -> None:
    """UpdateEndpointWeightsAndCapacities' work: weights change at once, instance counts by adding or draining."""
    failure = None
    for entry in desired:
        if "DesiredInstanceCount" not in entry:
            continue
        with endpoint.lock:
            fleet = endpoint.blue[entry["VariantName"]]
        change = int(entry["DesiredInstanceCount"]) - fleet.size
        try:
            fleet.add(change) if change > 0 else fleet.remove(-change) if change < 0 else None
        except (StartupError, ModelDataError) as exc:
            failure = f"Failed to update the instance count of variant {fleet.name}: {exc}"
    with endpoint.lock:
        endpoint.desired = {}
    endpoint.set_status("InService", failure)
