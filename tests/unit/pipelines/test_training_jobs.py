"""The training-job runner's files and answers, without Docker: /opt/ml trees, checkpoints, artifacts, descriptions.

The containers themselves run in tests/pipelines/test_training_runner.py.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from byoc_pipelines.local import job_files
from byoc_pipelines.local.attempt import Attempt, Signals
from byoc_pipelines.local.training_job import Job, describe, final_metrics, run_job
from byoc_pipelines.sagemaker import requests as sm
from byoc_pipelines.sagemaker.runner import jsonable
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball
from byoc_pipelines.sagemaker.shapes import result_errors

METRICS = [{"Name": "val_accuracy", "Regex": r"\bval_accuracy=([-+0-9.eE]+|nan|inf)"}]


def _request(tmp_path: Path, **extra: object) -> dict:
    (tmp_path / "train").mkdir(exist_ok=True)
    request = sm.training_job(
        "job-1",
        "img",
        {"train": f"file://{tmp_path}/train"},
        f"file://{tmp_path}/out",
        {"epochs": "2"},
        instance_count=2,
        checkpoint_uri=f"file://{tmp_path}/checkpoints/",
        metric_definitions=METRICS,
    )
    return {**request, **extra}


def test_each_host_gets_its_opt_ml_with_config_channels_and_code(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("pass\n")
    (tmp_path / "code.tar.gz").write_bytes(sourcedir_tarball(source))
    request = _request(tmp_path)
    request["HyperParameters"] |= Script("train.py", f"file://{tmp_path}/code.tar.gz").hyperparameters()
    trees = job_files.write_trees(request, tmp_path / "attempt-1", ["algo-1", "algo-2"], tmp_path / "code")
    assert [tree.host for tree in trees] == ["algo-1", "algo-2"]
    config = trees[1].root / "input" / "config"
    assert json.loads((config / "resourceconfig.json").read_text()) == {
        "current_host": "algo-2",
        "current_instance_type": "ml.m5.large",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1", "algo-2"],
        "instance_groups": [
            {"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.large", "hosts": ["algo-1", "algo-2"]}
        ],
        "network_interface_name": "eth0",
    }
    assert json.loads((config / "hyperparameters.json").read_text()) == {
        "epochs": "2",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "/opt/ml/code",  # the tarball, unpacked and mounted there
    }
    assert json.loads((config / "inputdataconfig.json").read_text()) == {"train": {"TrainingInputMode": "File"}}
    volumes = trees[0].volumes()
    assert volumes[str(trees[0].root)] == {"bind": "/opt/ml", "mode": "rw"}
    assert volumes[str(tmp_path / "train")] == {"bind": "/opt/ml/input/data/train", "mode": "ro"}
    assert volumes[str(tmp_path / "code")] == {"bind": "/opt/ml/code", "mode": "ro"}
    assert (tmp_path / "code" / "train.py").is_file()


def test_sharded_channels_and_s3_locations_are_refused(tmp_path: Path) -> None:
    request = _request(tmp_path)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    with pytest.raises(ValueError, match="only FullyReplicated"):
        job_files.write_trees(request, tmp_path / "a", ["algo-1"], tmp_path / "code")
    with pytest.raises(ValueError, match="map s3:// to a folder first"):
        job_files.local_path("s3://bucket/key")


def test_checkpoints_go_to_every_host_and_come_back_from_each(tmp_path: Path) -> None:
    trees = job_files.write_trees(_request(tmp_path), tmp_path / "a", ["algo-1", "algo-2"], tmp_path / "code")
    location = tmp_path / "checkpoints"
    assert job_files.restore_checkpoints(location, trees) == 0  # nothing saved yet: a fresh start
    (trees[0].checkpoints / "manifest.json").write_text(json.dumps({"epoch": 3, "step": 7}))
    job_files.save_checkpoints(trees, location)
    assert job_files.checkpoint_position(location) == "epoch 3, step 7"
    again = job_files.write_trees(_request(tmp_path), tmp_path / "b", ["algo-1", "algo-2"], tmp_path / "code")
    assert job_files.restore_checkpoints(location, again) == 1
    assert all((tree.checkpoints / "manifest.json").is_file() for tree in again)


def test_artifacts_and_failure_reason(tmp_path: Path) -> None:
    (tree,) = job_files.write_trees(_request(tmp_path), tmp_path / "a", ["algo-1"], tmp_path / "code")
    (tree.model_dir / "model.npz").write_bytes(b"w")
    (tree.output_dir / "data" / "metrics.json").write_text("[]")
    (tree.output_dir / "failure").write_text("bad\nthings " + "x" * 2000)
    job_output = tmp_path / "out" / "job-1" / "output"
    assert job_files.upload_artifacts(tree, job_output, model=False) is None
    assert not (job_output / "model.tar.gz").exists()
    assert job_files.upload_artifacts(tree, job_output) == job_output / "model.tar.gz"
    with tarfile.open(job_output / "output.tar.gz") as tar:
        assert tar.getnames() == ["metrics.json"]  # output/data, as SageMaker packs it
    reason = tree.failure_reason()
    assert reason is not None and reason.startswith("bad things x") and len(reason) == 1024


def test_descriptions_conform_to_botocore_and_carry_the_final_metrics(tmp_path: Path) -> None:
    job = Job(_request(tmp_path), "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1", tmp_path / "job")
    job.transition("Starting", "Launching requested ML instances")
    assert result_errors("sagemaker", "DescribeTrainingJob", jsonable(describe(job))) == []
    attempt = Attempt(1, ["algo-1"])
    for line in ("epoch=1 val_accuracy=0.5", "noise val_accuracy=nan?", "epoch=2 val_accuracy=0.75 x"):
        attempt.add_line("algo-1", line)
    job.attempts.append(attempt)
    job.end("Completed", "Completed", "Training job completed")
    described = jsonable(describe(job))
    assert result_errors("sagemaker", "DescribeTrainingJob", described) == []
    assert [(m["MetricName"], m["Value"]) for m in described["FinalMetricDataList"]] == [("val_accuracy", 0.75)]
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == ["Starting", "Completed"]
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": f"file://{tmp_path}/out/job-1/output/model.tar.gz"}
    assert final_metrics(Job(_request(tmp_path, AlgorithmSpecification={"TrainingImage": "i"}), "a", tmp_path)) == []


def test_a_job_stopped_before_its_containers_start_ends_stopped_without_any(tmp_path: Path) -> None:
    job = Job(_request(tmp_path), "arn", tmp_path / "job")
    job.stop_reason = Signals.STOP
    run_job(job, client=None, launch=None)  # type: ignore[arg-type]  # neither is reached
    assert (job.status, job.secondary, job.attempts) == ("Stopped", "Stopped", [])


def test_managed_spot_needs_checkpoints_and_a_maximum_wait(tmp_path: Path) -> None:
    request = _request(tmp_path, EnableManagedSpotTraining=True)
    assert not Job(request, "a", tmp_path).managed_spot
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 7200
    assert Job(request, "a", tmp_path).managed_spot
    del request["CheckpointConfig"]
    assert not Job(request, "a", tmp_path).managed_spot
