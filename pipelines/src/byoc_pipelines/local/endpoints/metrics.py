"""An endpoint's own metrics, named as SageMaker publishes them to CloudWatch, and alarms evaluated over them.

Per invocation (namespace ``AWS/SageMaker``, dimensions ``EndpointName`` and ``VariantName``; DG "Monitor
Amazon SageMaker with Amazon CloudWatch"): ``Invocations``, ``Invocation4XXErrors`` and ``Invocation5XXErrors``
(1 when the container answered 4xx/5xx, else 0, so ``Average`` is the error rate), ``ModelLatency`` and
``OverheadLatency`` in microseconds; for multi-model endpoints ``ModelCacheHit``, ``ModelLoadingWaitTime``,
``ModelUnloadingTime`` and ``LoadedModelCount``. ``FailedPings`` (1 per failed health check of an instance, 0
per passed one) is local only: CloudWatch has no metric for it.

An :class:`Alarm` is a CloudWatch ``PutMetricAlarm`` request (botocore-checked) over one of these metrics,
evaluated as CloudWatch does for a single metric: the statistic of each of the last ``EvaluationPeriods``
periods against the threshold, ``DatapointsToAlarm`` of them breaching (missing data per ``TreatMissingData``).
"""

from __future__ import annotations

import collections
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from byoc_pipelines.local.endpoints.errors import client_error
from byoc_pipelines.sagemaker.shapes import request_errors

NAMESPACE = "AWS/SageMaker"
LOCAL_METRICS = ("FailedPings",)
INVOCATION_METRICS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency", "OverheadLatency")
MULTI_MODEL_METRICS = ("ModelCacheHit", "ModelLoadingWaitTime", "ModelUnloadingTime", "LoadedModelCount")
KNOWN = (*INVOCATION_METRICS, *MULTI_MODEL_METRICS, *LOCAL_METRICS)
KEEP_S = 3600.0  # datapoints older than this are dropped
_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_SYMBOL = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=", "LessThanThreshold": "<"}


@dataclass(frozen=True)
class Datapoint:
    at: float  # time.time()
    variant: str
    name: str
    value: float


def statistic(values: list[float], stat: str) -> float | None:
    """CloudWatch's statistic of some datapoints: Sum, Average, Minimum, Maximum, SampleCount or pNN."""
    if not values:
        return None
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, math.ceil(float(stat[1:]) / 100 * len(ordered)) - 1)
        return ordered[rank]
    found: dict[str, Callable[[list[float]], float]] = {
        "Sum": sum,
        "Average": lambda v: sum(v) / len(v),
        "Minimum": min,
        "Maximum": max,
        "SampleCount": lambda v: float(len(v)),
    }
    return found[stat](values)


class Metrics:
    """One endpoint's datapoints, thread-safe, the last hour kept."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._points: collections.deque[Datapoint] = collections.deque()
        self._lock = threading.Lock()
        self.clock = clock

    def put(self, variant: str, name: str, value: float) -> None:
        now = self.clock()
        with self._lock:
            self._points.append(Datapoint(now, variant, name, value))
            while self._points and self._points[0].at < now - KEEP_S:
                self._points.popleft()

    def values(self, name: str, since: float, until: float, variant: str | None = None) -> list[float]:
        with self._lock:
            points = list(self._points)
        return [
            p.value
            for p in points
            if p.name == name and since < p.at <= until and (variant is None or p.variant == variant)
        ]

    def totals(self) -> dict[str, dict[str, float]]:
        """Per variant: the sum of every count metric and the average of every latency, over the last hour."""
        with self._lock:
            points = list(self._points)
        grouped: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
        for point in points:
            grouped[point.variant][point.name].append(point.value)
        return {
            variant: {
                name: float(statistic(values, "Average" if name.endswith(("Latency", "Time")) else "Sum") or 0)
                for name, values in sorted(metrics.items())
            }
            for variant, metrics in sorted(grouped.items())
        }


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch metric alarm over one endpoint metric."""

    name: str
    metric: str
    stat: str
    threshold: float
    comparison: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    dimensions: Mapping[str, str]
    treat_missing: str = "missing"

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> Alarm:
        """From a ``PutMetricAlarm`` request (the dict boto3's CloudWatch client takes)."""
        problems = request_errors("PutMetricAlarm", request, "cloudwatch")
        metric, namespace = request.get("MetricName"), request.get("Namespace", NAMESPACE)
        if metric not in KNOWN:
            problems.append(f"MetricName {metric!r} is not a metric of local endpoints; known: {', '.join(KNOWN)}")
        if namespace != NAMESPACE:
            problems.append(f"Namespace must be {NAMESPACE!r} (local endpoints publish no other)")
        if request.get("ComparisonOperator") not in _COMPARE:
            problems.append(f"ComparisonOperator must be one of {', '.join(_COMPARE)}")
        stat = request.get("Statistic") or request.get("ExtendedStatistic") or ""
        if not (stat in ("Sum", "Average", "Minimum", "Maximum", "SampleCount") or _is_percentile(stat)):
            problems.append("give Statistic (Sum, Average, ...) or ExtendedStatistic (pNN)")
        for key in ("Period", "EvaluationPeriods", "Threshold"):
            if key not in request:
                problems.append(f"missing {key}")
        if problems:
            raise client_error("ValidationError", "; ".join(problems), "PutMetricAlarm")
        periods = int(request["EvaluationPeriods"])
        return cls(
            name=request["AlarmName"],
            metric=str(metric),
            stat=str(stat),
            threshold=float(request["Threshold"]),
            comparison=request["ComparisonOperator"],
            period_s=int(request["Period"]),
            evaluation_periods=periods,
            datapoints_to_alarm=int(request.get("DatapointsToAlarm", periods)),
            dimensions={d["Name"]: d["Value"] for d in request.get("Dimensions", [])},
            treat_missing=request.get("TreatMissingData", "missing"),
        )

    def applies_to(self, endpoint: str) -> bool:
        return self.dimensions.get("EndpointName", endpoint) == endpoint

    def breach(self, metrics: Metrics, now: float | None = None) -> str | None:
        """Why the alarm is in ALARM now (CloudWatch's evaluation), or ``None`` when it is not."""
        now = metrics.clock() if now is None else now
        variant = self.dimensions.get("VariantName")
        breaching, shown = 0, []
        for index in range(self.evaluation_periods):
            until = now - index * self.period_s
            value = statistic(metrics.values(self.metric, until - self.period_s, until, variant), self.stat)
            if value is None:
                breaching += self.treat_missing == "breaching"
                continue
            if _COMPARE[self.comparison](value, self.threshold):
                breaching += 1
                shown.append(f"{value:g}")
        if breaching < self.datapoints_to_alarm:
            return None
        symbol = _SYMBOL.get(self.comparison, "<=")
        where = f" of variant {variant}" if variant else ""
        return (
            f"alarm {self.name} went into ALARM: {self.metric}{where} {self.stat} [{', '.join(shown) or 'missing'}] "
            f"{symbol} {self.threshold:g} in {breaching} of the last {self.evaluation_periods} period(s) of "
            f"{self.period_s} s"
        )


def _is_percentile(stat: str) -> bool:
    try:
        return stat.startswith("p") and 0 < float(stat[1:]) <= 100
    except ValueError:
        return False


def first_breach(alarms: Iterable[Alarm], metrics: Metrics) -> str | None:
    for alarm in alarms:
        reason = alarm.breach(metrics)
        if reason:
            return reason
    return None
