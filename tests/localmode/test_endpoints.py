"""Local endpoints with real chainer-mnist containers: several endpoints, weighted variants, InvokeEndpoint's
errors, UpdateEndpoint blue/green and rolling with automatic rollback, multi-model endpoints.

Each model here is a tiny MLP that always answers one label, so an answer tells which model served it.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils.endpoints import LoadGenerator, binomial_interval, failing_model, make_label_models, tarball
from utils.multi_model import (
    archive_bytes,
    create_endpoint,
    loaded_targets,
    model_prefix,
    running,
    walk_least_recently_used,
)
from utils.waiting import wait_until

pytestmark = pytest.mark.container

IMAGE_JSON = {"instances": [[0.0] * 784]}
SETTLED = ("InService", "Failed", "UpdateRollbackFailed")


@pytest.fixture(scope="module")
def models(chainer_mnist_image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, str]:
    """``file://`` model.tar.gz URIs: labels 1, 3 and 7, a model that cannot load, a model that answers 500."""
    root = tmp_path_factory.mktemp("models")
    folders = make_label_models(chainer_mnist_image, root / "folders", [1, 3, 7])
    found: dict[Any, str] = {
        label: tarball(folder, root / f"label-{label}" / "model.tar.gz") for label, folder in folders.items()
    }
    (root / "folders" / "empty").mkdir()
    found["no-weights"] = tarball(root / "folders" / "empty", root / "no-weights" / "model.tar.gz")
    found["failing"] = tarball(failing_model(root / "folders" / "failing"), root / "failing" / "model.tar.gz")
    found["prefix"] = model_prefix({f"label-{n}/model.tar.gz": folders[n] for n in (1, 3, 7)}, root / "mme")
    return found


@pytest.fixture
def local_mode(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[LocalMode]:
    caplog.set_level(logging.INFO, logger="byoc_pipelines.local.endpoints")
    with LocalMode(tmp_path / "local-mode", endpoint_settings={"ping_interval_s": 0.5, "seed": 20240601}) as session:
        yield session


# Each request's own log line is written at DEBUG (INFO keeps a summary per interval); the tests count those lines.
PER_REQUEST_LOGS = {"SAGEMAKER_CONTAINER_LOG_LEVEL": "DEBUG"}


def deploy(runner: LocalModeRunner, image: str, name: str, variants: list[tuple[str, str, float, int]]) -> None:
    """Models, one config and the endpoint: variants as ``(variant, model URI, weight, instances)``."""
    production = []
    for variant, uri, weight, count in variants:
        runner.call("CreateModel", sm.model(f"{name}-{variant}", image, uri, environment=PER_REQUEST_LOGS))
        production.append(
            {
                "VariantName": variant,
                "ModelName": f"{name}-{variant}",
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
        )
    runner.call("CreateEndpointConfig", {"EndpointConfigName": f"{name}-config", "ProductionVariants": production})
    runner.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": f"{name}-config"})


def ask(runner: LocalModeRunner, name: str, **fields: Any) -> tuple[str, int]:
    """One InvokeEndpoint: ``(variant that answered, label)``."""
    answer = runner.call(
        "InvokeEndpoint",
        {"EndpointName": name, "Body": json.dumps(IMAGE_JSON), "ContentType": "application/json", **fields},
    )
    return answer["InvokedProductionVariant"], json.loads(answer["Body"].read())["predictions"][0]["label"]


def settle(runner: LocalModeRunner, name: str, timeout_s: float = 300) -> dict[str, Any]:
    """DescribeEndpoint once nothing is under way."""

    def settled() -> dict[str, Any] | None:
        described = runner.call("DescribeEndpoint", {"EndpointName": name})
        return described if described["EndpointStatus"] in SETTLED else None

    found: dict[str, Any] = wait_until(settled, timeout_s, interval_s=0.1, what=f"endpoint {name} settled")
    return found


def statuses(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """Every status the endpoint went through, from the emulator's log."""
    prefix = f"endpoint {name}: "
    return [
        r.getMessage().removeprefix(prefix).split(" -> ")[1].split(" ")[0]
        for r in caplog.records
        if r.getMessage().startswith(prefix) and " -> " in r.getMessage()
    ]


def test_two_endpoints_at_once_each_on_its_own_containers(
    local_mode: LocalMode, runner: LocalModeRunner, chainer_mnist_image: str, models: dict[Any, str]
) -> None:
    deploy(runner, chainer_mnist_image, "first", [("AllTraffic", models[1], 1.0, 1)])
    deploy(runner, chainer_mnist_image, "second", [("AllTraffic", models[7], 1.0, 1)])
    assert settle(runner, "first")["EndpointStatus"] == "InService"
    described = settle(runner, "second")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointArn"] == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/second"
    (variant,) = described["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["CurrentWeight"]) == (1, 1.0)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == chainer_mnist_image
    assert "@" in variant["DeployedImages"][0]["ResolvedImage"]
    assert [ask(runner, "first")[1], ask(runner, "second")[1]] == [1, 7]
    listed = runner.call("ListEndpoints", {"SortBy": "Name", "SortOrder": "Ascending"})["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [
        ("first", "InService"),
        ("second", "InService"),
    ]
    assert len(running(local_mode)) == 2

    # the control plane and the runtime over HTTP, for boto3 clients with endpoint_url
    url = local_mode.endpoints.url
    control = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
    control.get_waiter("endpoint_in_service").wait(EndpointName="first", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1")
    answer = runtime.invoke_endpoint(EndpointName="second", Body=json.dumps(IMAGE_JSON), ContentType="application/json")
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(answer["Body"].read())["predictions"][0]["label"] == 7

    runner.call("DeleteEndpoint", {"EndpointName": "first"})
    with pytest.raises(
        ClientError, match='Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/first"'
    ):
        runner.call("DescribeEndpoint", {"EndpointName": "first"})
    with pytest.raises(ClientError, match="Endpoint first of account 123456789012 not found"):
        ask(runner, "first")
    assert ask(runner, "second")[1] == 7  # the other endpoint is untouched
    assert len(running(local_mode)) == 1


def test_weights_target_variant_and_new_weights_without_a_restart(
    local_mode: LocalMode, runner: LocalModeRunner, chainer_mnist_image: str, models: dict[Any, str]
) -> None:
    deploy(runner, chainer_mnist_image, "split", [("Major", models[1], 0.8, 1), ("Minor", models[7], 0.2, 1)])
    assert settle(runner, "split")["EndpointStatus"] == "InService"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        served = Counter(pool.map(lambda _: ask(runner, "split"), range(1000)))
    assert set(served) == {("Major", 1), ("Minor", 7)}  # each variant answers with its own model
    low, high = binomial_interval(1000, 0.8, 0.99)
    assert low <= served[("Major", 1)] <= high, (served, low, high)

    runtime = boto3.client("sagemaker-runtime", endpoint_url=local_mode.endpoints.url, region_name="us-east-1")
    for _ in range(50):
        answer = runtime.invoke_endpoint(EndpointName="split", Body=json.dumps(IMAGE_JSON), TargetVariant="Minor")
        assert answer["InvokedProductionVariant"] == "Minor"

    containers = {c.id for c in running(local_mode)}
    runner.call(
        "UpdateEndpointWeightsAndCapacities",
        {
            "EndpointName": "split",
            "DesiredWeightsAndCapacities": [
                {"VariantName": "Major", "DesiredWeight": 0.0},
                {"VariantName": "Minor", "DesiredWeight": 1.0, "DesiredInstanceCount": 2},
            ],
        },
    )
    assert ask(runner, "split") == ("Minor", 7)  # the new weights hold at once
    described = settle(runner, "split")
    minor = next(v for v in described["ProductionVariants"] if v["VariantName"] == "Minor")
    assert (minor["CurrentWeight"], minor["CurrentInstanceCount"]) == (1.0, 2)
    assert containers < {c.id for c in running(local_mode)}  # nothing restarted, one container more
    assert {ask(runner, "split") for _ in range(40)} == {("Minor", 7)}
    minor_containers = [c for c in running(local_mode) if "-minor-" in c.name]
    served_by = [c.logs().decode().count("invocations status=200") for c in minor_containers]
    assert len(served_by) == 2 and min(served_by) >= 10, served_by  # the two instances share the variant's traffic
    with pytest.raises(ClientError, match="TargetVariant Nope is not a production variant"):
        ask(runner, "split", TargetVariant="Nope")


def test_invoke_endpoint_answers_as_aws(
    local_mode: LocalMode, runner: LocalModeRunner, chainer_mnist_image: str, models: dict[Any, str]
) -> None:
    deploy(runner, chainer_mnist_image, "errors", [("AllTraffic", models[3], 1.0, 1)])
    assert settle(runner, "errors")["EndpointStatus"] == "InService"
    with pytest.raises(ClientError) as caught:
        runner.call("InvokeEndpoint", {"EndpointName": "errors", "Body": b"x", "ContentType": "image/png"})
    response: Any = caught.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert response["OriginalStatusCode"] == 415 and "image/png" in response["OriginalMessage"]
    assert response["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/errors")

    runtime = boto3.client("sagemaker-runtime", endpoint_url=local_mode.endpoints.url, region_name="us-east-1")
    with pytest.raises(runtime.exceptions.ModelError) as over_http:
        runtime.invoke_endpoint(EndpointName="errors", Body=b"[", ContentType="application/json")
    assert over_http.value.response["OriginalStatusCode"] == 400  # botocore parses the error's members
    with pytest.raises(ClientError) as too_big:
        runtime.invoke_endpoint(EndpointName="errors", Body=b"0" * (6 * 1024 * 1024 + 1))
    assert too_big.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "6291456-byte limit" in str(too_big.value)

    (container,) = running(local_mode)
    container.kill()  # the instance dies: no request can be served until something replaces it
    with pytest.raises(ClientError) as not_ready:
        ask(runner, "errors")
    assert not_ready.value.response["Error"]["Code"] == "ModelNotReadyException"
    assert not_ready.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    wait_until(lambda: local_mode.endpoints.metrics("errors")["AllTraffic"].get("FailedPings", 0) >= 2, 10)


def test_the_60_second_limit_is_a_model_error(tmp_path: Path, chainer_mnist_image: str, models: dict[Any, str]) -> None:
    """The limit is the emulator's setting (60 s as on AWS); a tiny one shows what a caller gets."""
    with LocalMode(tmp_path / "lm", endpoint_settings={"invocation_timeout_s": 0.05}) as local_mode:
        runner = LocalModeRunner(local_mode)
        deploy(runner, chainer_mnist_image, "slow", [("AllTraffic", models[3], 1.0, 1)])
        assert settle(runner, "slow")["EndpointStatus"] == "InService"
        body = json.dumps({"instances": [[0.5] * 784] * 1400})  # 5.5 MB: a few hundred ms of decoding
        with pytest.raises(ClientError) as caught:
            runner.call("InvokeEndpoint", {"EndpointName": "slow", "Body": body, "ContentType": "application/json"})
        response: Any = caught.value.response
        assert response["Error"]["Code"] == "ModelError" and response["OriginalStatusCode"] == 0
        assert "Your invocation timed out while waiting for a response from container primary" in str(caught.value)


def _update(runner: LocalModeRunner, image: str, name: str, uri: str, deployment: dict[str, Any]) -> None:
    runner.call("CreateModel", sm.model(f"{name}-next", image, uri))
    config = sm.endpoint_config(f"{name}-next-config", f"{name}-next")
    runner.call("CreateEndpointConfig", config)
    runner.call(
        "UpdateEndpoint",
        {"EndpointName": name, "EndpointConfigName": f"{name}-next-config", "DeploymentConfig": deployment},
    )


def _canary(wait_s: int, alarms: list[str] | None = None) -> dict[str, Any]:
    deployment: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 30},
                "WaitIntervalInSeconds": wait_s,
            },
            "TerminationWaitInSeconds": 1,
            "MaximumExecutionTimeoutInSeconds": 600,
        }
    }
    if alarms:
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return deployment


def _five_xx_alarm(local_mode: LocalMode, name: str) -> None:
    local_mode.endpoints.put_metric_alarm(
        AlarmName=f"{name}-5xx",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_canary_update_to_a_healthy_model_with_no_failed_request(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    chainer_mnist_image: str,
    models: dict[Any, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    deploy(runner, chainer_mnist_image, "canary", [("AllTraffic", models[1], 1.0, 1)])
    assert settle(runner, "canary")["EndpointStatus"] == "InService"
    _five_xx_alarm(local_mode, "canary")
    with LoadGenerator(lambda: ask(runner, "canary")) as load:
        _update(runner, chainer_mnist_image, "canary", models[7], _canary(3, ["canary-5xx"]))
        during = runner.call("DescribeEndpoint", {"EndpointName": "canary"})
        described = settle(runner, "canary")
        finished = time.monotonic()
        wait_until(lambda: len(load.outcomes) > 0 and load.outcomes[-1].at > finished + 0.5, 30)
    assert (
        during["EndpointStatus"] == "Updating"
        and during["PendingDeploymentSummary"]["EndpointConfigName"] == "canary-next-config"
    )
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "canary-next-config"
    assert statuses(caplog, "canary") == ["InService", "Updating", "InService"]
    assert "FailureReason" not in described
    assert described["LastDeploymentConfig"] == _canary(3, ["canary-5xx"])
    assert load.failures() == [], load.failures()[:5]
    assert load.labels(until=finished) == {1, 7}  # the canary served while the old fleet still did
    assert load.labels(since=finished + 0.2) == {7}
    wait_until(lambda: len(running(local_mode)) == 1, 60, what="the old fleet stopped")


def test_update_to_a_model_failing_ping_rolls_back_with_no_failed_request(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    chainer_mnist_image: str,
    models: dict[Any, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    deploy(runner, chainer_mnist_image, "noping", [("AllTraffic", models[1], 1.0, 1)])
    assert settle(runner, "noping")["EndpointStatus"] == "InService"
    with LoadGenerator(lambda: ask(runner, "noping")) as load:
        _update(runner, chainer_mnist_image, "noping", models["no-weights"], _canary(1))
        described = settle(runner, "noping")
    assert statuses(caplog, "noping") == ["InService", "Updating", "RollingBack", "InService"]
    assert described["EndpointConfigName"] == "noping-config"  # the old configuration
    reason = described["FailureReason"]
    assert "did not pass the ping health check" in reason and "model.npz not found" in reason
    assert "PendingDeploymentSummary" not in described
    assert load.failures() == [] and load.labels() == {1} and len(load.outcomes) > 10
    assert len(running(local_mode)) == 1


def test_update_to_a_model_answering_5xx_rolls_back_on_its_alarm(
    local_mode: LocalMode,
    runner: LocalModeRunner,
    chainer_mnist_image: str,
    models: dict[Any, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The canary's share of traffic meets the broken model until the alarm trips (as on AWS: the canary's job);
    no request fails for any other reason, and none once traffic is back on the old fleet."""
    deploy(runner, chainer_mnist_image, "fivexx", [("AllTraffic", models[1], 1.0, 1)])
    assert settle(runner, "fivexx")["EndpointStatus"] == "InService"
    _five_xx_alarm(local_mode, "fivexx")
    runner.call(
        "CreateModel",
        sm.model(
            "fivexx-next", chainer_mnist_image, models["failing"], environment={"SAGEMAKER_PROGRAM": "inference.py"}
        ),
    )
    runner.call("CreateEndpointConfig", sm.endpoint_config("fivexx-next-config", "fivexx-next"))
    with LoadGenerator(lambda: ask(runner, "fivexx")) as load:
        runner.call(
            "UpdateEndpoint",
            {
                "EndpointName": "fivexx",
                "EndpointConfigName": "fivexx-next-config",
                "DeploymentConfig": _canary(60, ["fivexx-5xx"]),
            },
        )
        described = settle(runner, "fivexx")
        back = time.monotonic()
        wait_until(lambda: load.outcomes[-1].at > back + 1, 30)
    assert statuses(caplog, "fivexx") == ["InService", "Updating", "RollingBack", "InService"]
    assert described["EndpointConfigName"] == "fivexx-config"
    assert "alarm fivexx-5xx went into ALARM" in described["FailureReason"]
    failures = load.failures()
    assert failures and {(f.error, f.original_status) for f in failures} == {("ModelError", 500)}
    assert load.failures(since=back) == [] and load.labels(since=back) == {1}
    assert len(running(local_mode)) == 1


def test_rolling_update_replaces_instances_batch_by_batch(
    local_mode: LocalMode, runner: LocalModeRunner, chainer_mnist_image: str, models: dict[Any, str]
) -> None:
    deploy(runner, chainer_mnist_image, "rolling", [("AllTraffic", models[1], 1.0, 2)])
    assert settle(runner, "rolling")["EndpointStatus"] == "InService"
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 1,
            "MaximumExecutionTimeoutInSeconds": 600,
        }
    }
    runner.call("CreateModel", sm.model("rolling-next", chainer_mnist_image, models[7]))
    runner.call("CreateEndpointConfig", sm.endpoint_config("rolling-next-config", "rolling-next", instance_count=2))
    counts = []
    with LoadGenerator(lambda: ask(runner, "rolling")) as load:
        runner.call(
            "UpdateEndpoint",
            {"EndpointName": "rolling", "EndpointConfigName": "rolling-next-config", "DeploymentConfig": rolling},
        )
        while runner.call("DescribeEndpoint", {"EndpointName": "rolling"})["EndpointStatus"] == "Updating":
            counts.append(len(running(local_mode)))
        described = settle(runner, "rolling")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "rolling-next-config"
    assert max(counts) <= 3  # one batch at a time: never the whole new fleet next to the whole old one
    assert load.failures() == [] and load.labels() == {1, 7}
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_multi_model_endpoint_loads_on_first_use_and_unloads_the_least_recent(
    local_mode: LocalMode, runner: LocalModeRunner, chainer_mnist_image: str, models: dict[Any, str]
) -> None:
    budget = int(2.5 * archive_bytes(models[1]))  # room for two models, not three
    create_endpoint(runner, chainer_mnist_image, "mme", models["prefix"], budget)
    assert settle(runner, "mme")["EndpointStatus"] == "InService"
    answers = {f"label-{label}/model.tar.gz": label for label in (1, 3, 7)}
    loaded = loaded_targets(local_mode, list(answers))
    walk_least_recently_used(lambda target: ask(runner, "mme", TargetModel=target)[1], loaded, answers)
    metrics = local_mode.endpoints.metrics("mme")["AllTraffic"]
    assert metrics["ModelCacheHit"] == 1 and metrics["Invocations"] == 5
    with pytest.raises(ClientError, match="TargetModel is required"):
        ask(runner, "mme")
    with pytest.raises(ClientError, match="Failed to download model data"):
        ask(runner, "mme", TargetModel="label-9/model.tar.gz")
