"""The definition builders: golden JSON, names from the execution, data flow from the training result."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from byoc_pipelines.asl import blue_green, graph
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl.arns import Api, Pattern, Service, integration_arn, operation, operation_name
from byoc_pipelines.asl.states import Ref, StateName, parameters
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import DefinitionError
from byoc_pipelines.sagemaker.shapes import request_errors

GOLDEN = Path(__file__).resolve().parents[3] / "pipelines" / "definitions"


@pytest.mark.parametrize("name", list(defs.BUILDERS))
def test_builder_output_matches_the_committed_golden_json(name: str) -> None:
    assert defs.RENDERED_DIR == GOLDEN
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    assert defs.build(name, PipelineConfig()) == golden, f"re-render with `python -m byoc_pipelines.cli render {name}`"


@pytest.mark.parametrize("name", list(defs.BUILDERS))
def test_graph_is_sound_and_states_come_from_the_enum(name: str) -> None:
    definition = defs.build(name, PipelineConfig())
    graph.check_graph(definition)
    assert set(definition["States"]) <= {s.value for s in StateName}
    inner = [state["ItemProcessor"]["States"] for state in definition["States"].values() if "ItemProcessor" in state]
    assert inner and all(set(states) <= {s.value for s in StateName} for states in inner)


def test_arn_function_and_operation_names() -> None:
    arn = integration_arn(Service.SAGEMAKER, Api.CREATE_TRAINING_JOB, Pattern.SYNC)
    assert arn == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert operation_name(arn) == ("sagemaker", "CreateTrainingJob")
    assert operation_name(integration_arn(Service.AWS_SDK_SAGEMAKER, Api.DESCRIBE_ENDPOINT)) == (
        "aws-sdk:sagemaker",
        "DescribeEndpoint",
    )
    assert operation("createTransformJob.waitForTaskToken") == "CreateTransformJob"
    assert operation("describeEndpoint") == "DescribeEndpoint"


def test_names_derive_from_the_execution_name() -> None:
    names = defs.build("chainer-mnist-batch", PipelineConfig(prefix="demo"))["States"]["Name Resources"]
    assert names["Parameters"]["training_job.$"] == "States.Format('demo-{}-train', $$.Execution.Name)"
    assert names["ResultPath"] == "$.names"


def test_model_data_flows_from_the_training_result() -> None:
    states = defs.build("chainer-mnist-batch", PipelineConfig())["States"]
    train, model = states["Train Model"], states["Create Model"]
    assert train["Resource"].endswith("createTrainingJob.sync")
    assert train["ResultSelector"]["ModelArtifacts.$"] == "$.ModelArtifacts.S3ModelArtifacts"
    assert train["ResultPath"] == "$.training"
    assert model["Parameters"]["PrimaryContainer"]["ModelDataUrl.$"] == "$.training.ModelArtifacts"
    assert states["Batch Transform"]["Resource"].endswith("createTransformJob.sync")


CLEAN_UP_TYPES = ("stopTrainingJob", "stopTransformJob", "deleteEndpoint", "deleteEndpointConfig", "deleteModel")


@pytest.mark.parametrize("name", list(defs.BUILDERS))
def test_every_task_retries_sagemaker_errors_and_catches_the_rest_into_the_failure_path(name: str) -> None:
    states = defs.build(name, PipelineConfig())["States"]
    first_clean_up = "Stop Training Job"
    for state_name, state in states.items():
        if state["Type"] != "Task":
            continue
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert all(r["BackoffRate"] >= 1 and r["MaxAttempts"] >= 1 for r in state["Retry"])
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        if state_name in ("Find Endpoint", "Put Rollback Alarm"):  # "not found" is an answer; CloudWatch's errors
            cloudwatch = state_name == "Put Rollback Alarm"
            assert retried == ({"CloudWatch.CloudWatchException"} if cloudwatch else {"ThrottlingException"})
            expected = "Endpoint Missing?" if state_name == "Find Endpoint" else first_clean_up
            assert state["Catch"][0]["Next"] == expected
            continue
        assert retried & {"SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"}, state_name
        if state["Resource"].rsplit(":", 1)[-1] in CLEAN_UP_TYPES:  # best effort: on to the next step
            assert state["Catch"][0]["Next"] == state["Next"]
            assert state["Catch"][0]["ResultPath"].startswith("$.clean_up.")
        else:
            assert state["Catch"][0] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": first_clean_up}
            if "sagemaker:create" in state["Resource"]:
                assert "SageMaker.ResourceLimitExceededException" in retried
    assert states["Pipeline Failed"]["CausePath"] == "States.Format('{}: {}', $.error.Error, $.error.Cause)"


def test_the_failure_path_stops_then_deletes_in_dependency_order() -> None:
    keras = defs.build("keras-text-endpoint", PipelineConfig())["States"]
    chain, state = [], "Stop Training Job"
    while state != "Pipeline Failed":
        chain.append(state)
        state = keras[state]["Next"] if "Next" in keras[state] else keras[state]["Choices"][-1]["Next"]
    assert chain == [
        "Stop Training Job",
        "Endpoint Created Here?",
        "Delete Endpoint",
        "Delete Endpoint Config",
        "Delete Model",
    ]
    # only an endpoint this execution created is deleted: a later execution's update must never delete it
    assert keras["Endpoint Created Here?"]["Choices"] == [
        {"Variable": "$.endpoint.Created", "IsPresent": False, "Next": "Delete Endpoint Config"},
        {"Variable": "$.endpoint.Created", "BooleanEquals": True, "Next": "Delete Endpoint"},
    ]
    assert keras["Delete Endpoint"]["Parameters"] == {"EndpointName.$": "$.names.endpoint"}
    chainer = defs.build("chainer-mnist-batch", PipelineConfig())["States"]
    assert chainer["Stop Transform Job"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:stopTransformJob"


def test_training_sends_metric_definitions_checkpoints_and_the_spot_settings() -> None:
    train = defs.build("chainer-mnist-batch", PipelineConfig(training_timeout_seconds=99))["States"]["Train Model"]
    params = train["Parameters"]
    metrics = {m["Name"]: m["Regex"] for m in params["AlgorithmSpecification"]["MetricDefinitions"]}
    assert set(metrics) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    line = "epoch=2 train_loss=0.0412 train_accuracy=0.987 val_loss=0.0691 val_accuracy=0.979 images_per_sec=7700"
    assert re.search(metrics["val_accuracy"], line).group(1) == "0.979"  # type: ignore[union-attr]
    assert re.search(metrics["train_loss"], line).group(1) == "0.0412"  # type: ignore[union-attr]
    assert params["CheckpointConfig"] == {
        "S3Uri.$": "States.Format('{}{}/checkpoints/', $.outputs.model, $.names.training_job)",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert (params["StoppingCondition.$"], params["EnableManagedSpotTraining.$"]) == (
        "$.stopping_condition",
        "$.managed_spot",
    )
    assert train["TimeoutSeconds"] == 99


def test_lambda_variant_invokes_the_create_model_function() -> None:
    config = PipelineConfig(prefix="p")
    state = defs.build("chainer-mnist-batch-lambda", config)["States"]["Create Model"]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke"
    assert state["Parameters"]["FunctionName"] == "p-create-model"
    assert state["Parameters"]["Payload"]["ModelName.$"] == "$.names.model"
    assert state["ResultSelector"] == {"ModelArn.$": "$.Payload.ModelArn"}


def test_the_update_and_its_alarm_are_what_botocore_takes() -> None:
    states = defs.build("keras-text-endpoint", PipelineConfig())["States"]
    alarm = states["Put Rollback Alarm"]
    assert alarm["Resource"] == "arn:aws:states:::aws-sdk:cloudwatch:putMetricAlarm"
    assert request_errors("PutMetricAlarm", alarm["Parameters"], "cloudwatch") == []
    assert alarm["Parameters"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "byoc-keras-text-endpoint"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    update = {"EndpointName": "e", "EndpointConfigName": "c"} | {
        k: v for k, v in states["Update Endpoint"]["Parameters"].items() if not k.endswith(".$")
    }
    assert request_errors("UpdateEndpoint", update) == []
    rollback = update["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert rollback == {"Alarms": [{"AlarmName": blue_green.alarm_name("byoc-keras-text-endpoint")}]}
    # the deployment's limit (600 s at least) ends within the poll's budget, so the workflow sees how it ends
    config, policy = PipelineConfig(), update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= config.endpoint_wait_seconds * config.endpoint_max_polls


def test_keras_definition_polls_the_endpoint_a_bounded_number_of_times() -> None:
    states = defs.build("keras-text-endpoint", PipelineConfig(endpoint_max_polls=7))["States"]
    created = {"EndpointArn.$": "$.EndpointArn", "Polls": 0, "Created": True}
    assert states["Create Endpoint"]["ResultSelector"] == created
    assert states["Update Endpoint"]["ResultSelector"] == {**created, "Created": False}
    assert states["Wait For Endpoint"] == {"Type": "Wait", "SecondsPath": "$.wait_seconds", "Next": "Describe Endpoint"}
    assert states["Describe Endpoint"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    choice = states["Endpoint Ready?"]
    assert [rule["Next"] for rule in choice["Choices"]] == [
        "Endpoint In Service",
        "No Failure Reason",
        "Endpoint Failed",
        "Endpoint Not Updated",
        "Endpoint Timed Out",
    ]
    assert states["No Failure Reason"]["ResultPath"] == "$.endpoint_status.FailureReason"
    assert states["No Failure Reason"]["Next"] == "Endpoint Ready?"
    assert choice["Choices"][0]["And"][1] == {
        "Variable": "$.endpoint_status.EndpointConfigName",
        "StringEqualsPath": "$.names.endpoint_config",
    }
    assert choice["Choices"][-1] == {
        "Variable": "$.endpoint.Polls",
        "NumericGreaterThanEquals": 7,
        "Next": "Endpoint Timed Out",
    }
    assert choice["Default"] == "Count Endpoint Poll"
    count = states["Count Endpoint Poll"]
    assert count["Parameters"]["Polls.$"] == "States.MathAdd($.endpoint.Polls, 1)"
    assert (count["ResultPath"], count["Next"]) == ("$.endpoint", "Wait For Endpoint")
    assert states["Endpoint Timed Out"]["Error"] == "EndpointTimedOut"


def test_channels_instance_count_and_model_environment_come_from_the_input() -> None:
    states = defs.build("chainer-mnist-batch", PipelineConfig())["States"]
    channels = states["Build Channels"]
    assert (channels["Type"], channels["ItemsPath"], channels["ResultPath"]) == (
        "Map",
        "$.channels",
        "$.input_data_config",
    )
    assert channels["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert channels["ItemSelector"] == {
        "ChannelName.$": "$$.Map.Item.Value.name",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri.$": "$$.Map.Item.Value.uri",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    train = states["Train Model"]["Parameters"]
    assert train["InputDataConfig.$"] == "$.input_data_config"
    assert train["ResourceConfig"]["InstanceCount.$"] == "$.instance_count"
    assert train["HyperParameters.$"] == "$.hyperparameters"
    assert states["Create Model"]["Parameters"]["PrimaryContainer"]["Environment.$"] == "$.model_environment"
    assert states["Batch Transform"]["Parameters"]["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri.$"] == (
        "$.transform_input"
    )


def test_the_partition_comes_from_the_region() -> None:
    china = PipelineConfig(region="cn-north-1")
    assert china.partition == "aws-cn"
    assert china.training_role_arn == "arn:aws-cn:iam::123456789012:role/byoc-training"
    assert china.image_uri("chainer-mnist", "abc1234") == (
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/byoc/chainer-mnist:abc1234"
    )
    resources = {s.get("Resource") for s in defs.build("keras-text-endpoint", china)["States"].values()} - {None}
    assert resources and all(r.startswith("arn:aws-cn:states:::") for r in resources)
    assert PipelineConfig(region="us-gov-west-1").partition == "aws-us-gov"
    assert PipelineConfig(region="eu-west-1").arn("s3", "b", region=False, account=False) == "arn:aws:s3:::b"


def test_parameters_render_refs_as_paths_and_reject_refs_in_lists() -> None:
    assert parameters({"A": Ref("$.a"), "B": {"C": 1}, "D": [{"E": Ref("$.e")}]}) == {
        "A.$": "$.a",
        "B": {"C": 1},
        "D": [{"E.$": "$.e"}],
    }
    with pytest.raises(ValueError, match="list"):
        parameters({"A": [Ref("$.a")]})


def test_graph_check_reports_dangling_and_unreachable_states() -> None:
    definition = defs.build("chainer-mnist-batch", PipelineConfig())
    definition["States"]["Train Model"]["Next"] = "Create Modle"
    with pytest.raises(DefinitionError, match=r"missing state 'Create Modle'.*'Create Model' is unreachable"):
        graph.check_graph(definition)


def test_graph_check_looks_inside_the_map() -> None:
    definition = defs.build("chainer-mnist-batch", PipelineConfig())
    definition["States"]["Build Channels"]["ItemProcessor"]["StartAt"] = "Chanel"
    with pytest.raises(DefinitionError, match=r"Build Channels: StartAt 'Chanel' is not a state"):
        graph.check_graph(definition)


def test_config_from_environment_and_flags() -> None:
    config = PipelineConfig.from_env({"BYOC_BUCKET": "b", "BYOC_MAX_ATTEMPTS": "5"}, prefix="x", region=None)
    assert (config.bucket, config.max_attempts, config.prefix, config.region) == ("b", 5, "x", "us-east-1")
    assert config.training_role_arn == "arn:aws:iam::123456789012:role/x-training"
    assert config.serving_role_arn == "arn:aws:iam::123456789012:role/x-serving"
    assert (config.states_role_name, config.lambda_role_name) == ("x-states", "x-lambda")
