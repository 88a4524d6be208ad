"""Local endpoints' rules without Docker: alarms over metrics, deployment plans, listing, model data paths."""

from __future__ import annotations

import datetime
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from byoc_pipelines.local.endpoints.deployment import Plan
from byoc_pipelines.local.endpoints.listing import listed
from byoc_pipelines.local.endpoints.metrics import Alarm, Metrics, statistic
from byoc_pipelines.local.endpoints.models import ModelData, ModelDataError, ModelSpec, model_name, target_archive


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def alarm(**overrides: Any) -> Alarm:
    request = {
        "AlarmName": "errors",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        "Statistic": "Sum",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        **overrides,
    }
    return Alarm.from_request({key: value for key, value in request.items() if value is not None})


def test_statistics_as_cloudwatch() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert [statistic(values, s) for s in ("Sum", "Average", "Minimum", "Maximum", "SampleCount")] == [10, 2.5, 1, 4, 4]
    assert statistic(list(map(float, range(1, 101))), "p99") == 99
    assert statistic([], "Sum") is None


def test_an_alarm_trips_on_its_variant_within_its_period() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    rule = alarm()
    metrics.put("AllTraffic", "Invocation5XXErrors", 0)
    metrics.put("Other", "Invocation5XXErrors", 1)  # another variant's errors do not count
    assert rule.breach(metrics) is None
    metrics.put("AllTraffic", "Invocation5XXErrors", 1)
    reason = rule.breach(metrics)
    assert reason is not None and "errors" in reason and "Invocation5XXErrors" in reason
    clock.now += 11  # the error left the 10 s period
    assert rule.breach(metrics) is None


def test_datapoints_to_alarm_and_missing_data() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    rule = alarm(
        MetricName="ModelLatency", Statistic="Average", Threshold=1000, EvaluationPeriods=3, DatapointsToAlarm=2
    )
    metrics.put("AllTraffic", "ModelLatency", 5000)
    assert rule.breach(metrics) is None  # one slow period of three, two needed; missing periods do not breach
    clock.now += 10
    metrics.put("AllTraffic", "ModelLatency", 5000)
    assert rule.breach(metrics) is not None
    assert alarm(TreatMissingData="breaching").breach(Metrics(clock)) is not None


def test_alarm_requests_are_checked() -> None:
    with pytest.raises(ClientError, match="not a metric of local endpoints"):
        alarm(MetricName="CPUUtilization")
    with pytest.raises(ClientError, match="Statistic"):
        alarm(Statistic=None)
    assert alarm(ExtendedStatistic="p90", Statistic=None).stat == "p90"
    assert alarm().applies_to("ep") and not alarm().applies_to("other")


def config(count: int = 4, *names: str) -> dict[str, Any]:
    variants = [{"VariantName": n, "ModelName": "m", "InitialInstanceCount": count} for n in names or ("AllTraffic",)]
    return {"EndpointConfigName": "c", "ProductionVariants": variants}


def blue_green(kind: str, size: dict[str, Any] | None = None, wait: int = 5) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    if size:
        routing["CanarySize" if kind == "CANARY" else "LinearStepSize"] = size
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 3}}


def test_traffic_steps() -> None:
    counts = {"AllTraffic": 4}
    assert Plan.from_request(blue_green("ALL_AT_ONCE")).shares(counts) == [{"AllTraffic": 1.0}]
    canary = Plan.from_request(blue_green("CANARY", {"Type": "INSTANCE_COUNT", "Value": 1}))
    assert canary.shares(counts) == [{"AllTraffic": 0.25}, {"AllTraffic": 1.0}]
    assert canary.wait_s == 5 and canary.termination_wait_s == 3
    linear = Plan.from_request(blue_green("LINEAR", {"Type": "CAPACITY_PERCENT", "Value": 40}))
    assert linear.shares(counts) == [{"AllTraffic": 0.4}, {"AllTraffic": 0.8}, {"AllTraffic": 1.0}]
    assert Plan.from_request(None).shares(counts) == [{"AllTraffic": 1.0}]


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        (blue_green("CANARY", {"Type": "INSTANCE_COUNT", "Value": 3}), "must be 0%-50%"),
        (blue_green("LINEAR", {"Type": "CAPACITY_PERCENT", "Value": 5}), "must be 10%-50%"),
        (blue_green("CANARY"), "needs CanarySize"),
        (
            {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 60},
                    "WaitIntervalInSeconds": 1,
                }
            },
            "must be 5%-50%",
        ),
    ],
)
def test_plans_aws_refuses(deployment: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError, match=message):
        Plan.from_request(deployment).check(config(), config())


def test_a_deployment_keeps_the_variants() -> None:
    with pytest.raises(ClientError, match="must be the endpoint's"):
        Plan.from_request(blue_green("ALL_AT_ONCE")).check(config(4, "A"), config(4, "B"))
    Plan.from_request(None).check(config(4, "A"), config(4, "B"))  # a plain update may change them


def test_listing_filters_sorts_and_pages() -> None:
    day = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    entries = [
        {
            "EndpointName": f"ep-{i}",
            "EndpointStatus": "InService" if i % 2 else "Failed",
            "CreationTime": day.replace(day=i + 1),
        }
        for i in range(5)
    ]
    page, next_page = listed(entries, {"MaxResults": 2}, "EndpointName", "EndpointStatus")
    assert [e["EndpointName"] for e in page] == ["ep-4", "ep-3"] and next_page == "2"  # newest first
    page, _ = listed(
        entries,
        {"StatusEquals": "Failed", "SortBy": "Name", "SortOrder": "Ascending"},
        "EndpointName",
        "EndpointStatus",
    )
    assert [e["EndpointName"] for e in page] == ["ep-0", "ep-2", "ep-4"]
    page, _ = listed(entries, {"NameContains": "-1", "CreationTimeAfter": day}, "EndpointName")
    assert [e["EndpointName"] for e in page] == ["ep-1"]


def tarball(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            source = path.parent / f".{name}"
            source.write_bytes(data)
            tar.add(source, arcname=name)
    return path


def test_model_data_is_extracted_once_per_archive_version(tmp_path: Path) -> None:
    archive = tarball(tmp_path / "out" / "model.tar.gz", {"model.npz": b"weights"})
    spec = ModelSpec("m", "image", f"file://{archive}")
    data = ModelData(tmp_path / "models")
    folder = data.folder(spec)
    assert folder is not None and (folder / "model.npz").read_bytes() == b"weights"
    assert sorted(p.name for p in folder.iterdir()) == ["model.npz"]  # the files only, not the archive's folder
    assert data.folder(spec) == folder
    with pytest.raises(ModelDataError, match="not local"):
        data.folder(ModelSpec("m", "image", "s3://bucket/model.tar.gz"))
    assert data.folder(ModelSpec("m", "image")) is None


def test_multi_model_targets_stay_under_the_prefix(tmp_path: Path) -> None:
    tarball(tmp_path / "prefix" / "a" / "model.tar.gz", {"model.npz": b"a"})
    spec = ModelSpec("mme", "image", f"file://{tmp_path / 'prefix'}/", multi_model=True)
    assert target_archive(spec, "a/model.tar.gz") == (tmp_path / "prefix" / "a" / "model.tar.gz").resolve()
    with pytest.raises(ModelDataError, match="outside"):
        target_archive(spec, "../secret.tar.gz")
    with pytest.raises(ModelDataError, match="Failed to download"):
        target_archive(spec, "b/model.tar.gz")
    assert model_name("a/model.tar.gz") != model_name("b/model.tar.gz") and len(model_name("x")) == 32


def test_a_container_gets_the_model_environment(tmp_path: Path) -> None:
    described = {
        "ModelName": "m",
        "PrimaryContainer": {
            "Image": "img",
            "Mode": "MultiModel",
            "ModelDataUrl": "file:///models/",
            "Environment": {"SAGEMAKER_PROGRAM": "s.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"file://{tmp_path}"},
        },
    }
    spec = ModelSpec.from_description(described)
    assert spec.container_environment() == {
        "SAGEMAKER_PROGRAM": "s.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/code",
        "SAGEMAKER_MULTI_MODEL": "true",
    }
    assert spec.code_volume() == {str(tmp_path): {"bind": "/opt/ml/code", "mode": "ro"}}
    with pytest.raises(ModelDataError, match="PrimaryContainer"):
        ModelSpec.from_description({"ModelName": "pipeline", "Containers": []})
