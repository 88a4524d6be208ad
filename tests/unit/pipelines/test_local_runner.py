"""What the local runner adds to SDK local mode, with a recording stand-in for the SDK's client (no Docker)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from byoc_pipelines.local.artifacts import pictures_from, training_artifacts
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.sagemaker import requests as sm
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class RecordingClient:
    """Answers like the SDK's local client: None for creates."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_model(self, **request: Any) -> None:
        self.calls.append(("create_model", request))


class FakeLocalMode:
    region = "eu-west-1"
    run_id = "run-1"

    def __init__(self, client: RecordingClient, root: Path) -> None:
        self.sagemaker_client = client
        self.root = root


def test_s3_uris_are_folders_both_ways(tmp_path: Path) -> None:
    s3 = S3Folder(tmp_path)
    request = {"A": "s3://b/k/", "B": ["s3://b/x", "plain"], "C": 3}
    as_files = s3.to_files(request)
    assert as_files == {"A": f"file://{tmp_path}/b/k/", "B": [f"file://{tmp_path}/b/x", "plain"], "C": 3}
    assert s3.to_s3(as_files) == request
    assert s3.s3_uri("file:///elsewhere/k") == "file:///elsewhere/k"
    with pytest.raises(ValueError, match="not an s3:// URI"):
        s3.path("file:///x")


class RecordingTraining:
    """Stands in for TrainingJobs: records the requests, answers in file:// terms as the real one does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, request))
        if operation == "CreateTrainingJob":
            return {"TrainingJobArn": "arn:aws:sagemaker:eu-west-1:111122223333:training-job/job-1"}
        output = self.calls[0][1]["OutputDataConfig"]["S3OutputPath"]
        return {"TrainingJobStatus": "Completed", "ModelArtifacts": {"S3ModelArtifacts": f"{output}job-1/output/x"}}


def test_training_goes_to_the_training_jobs_in_file_terms_and_answers_in_s3_terms(tmp_path: Path) -> None:
    client = RecordingClient()
    runner = LocalModeRunner(FakeLocalMode(client, tmp_path / "lm"), S3Folder(tmp_path), account="111122223333")  # type: ignore[arg-type]
    training = RecordingTraining()
    runner.training = training  # type: ignore[assignment]
    request = sm.training_job("job-1", "img", {"train": "s3://b/in/"}, "s3://b/out/", role_arn="arn:role")
    assert runner.call("CreateTrainingJob", request)["TrainingJobArn"].endswith(":training-job/job-1")
    sent = training.calls[0][1]
    assert sent["OutputDataConfig"]["S3OutputPath"] == f"file://{tmp_path}/b/out/"
    assert sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"file://{tmp_path}/b/in/"
    assert sent["RoleArn"] == "arn:role" and sent["ResourceConfig"]["InstanceType"] == "ml.m5.large"  # as sent
    described = runner.call("DescribeTrainingJob", {"TrainingJobName": "job-1"})
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == "s3://b/out/job-1/output/x"
    assert client.calls == []  # SDK local mode never sees a training job


def test_stop_transform_job_answers_as_aws_for_a_job_that_already_ended(tmp_path: Path) -> None:
    class TransformClient(RecordingClient):
        def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
            if TransformJobName != "t-1":
                raise ValueError("no such job")
            return {"TransformJobName": TransformJobName, "TransformJobStatus": "Completed"}

    runner = LocalModeRunner(FakeLocalMode(TransformClient(), tmp_path / "lm"))  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="in status Completed"):
        runner.call("StopTransformJob", {"TransformJobName": "t-1"})
    with pytest.raises(ClientError, match="Could not find transform job t-2"):
        runner.call("StopTransformJob", {"TransformJobName": "t-2"})


def test_pictures_are_extracted_flat_and_listed_with_the_tarballs(tmp_path: Path) -> None:
    model = tarball(tmp_path / "job" / "model.tar.gz", {"model.npz": b"w"})
    tarball(
        tmp_path / "job" / "output.tar.gz",
        {"data/training_curves.png": b"png", "../../escape.png": b"x", "data/metrics.json": b"{}"},
    )
    found = training_artifacts(model, tmp_path / "pictures")
    assert found == [
        model,
        tmp_path / "job" / "output.tar.gz",
        tmp_path / "pictures" / "training_curves.png",
        tmp_path / "pictures" / "escape.png",  # its name only: nothing is written outside the target
    ]
    assert (tmp_path / "pictures" / "training_curves.png").read_bytes() == b"png"
    assert not (tmp_path.parent / "escape.png").exists()
    assert pictures_from(tmp_path / "missing.tar.gz", tmp_path / "pictures") == []


def test_script_mode_code_of_a_model_is_handed_to_local_mode_as_a_folder(tmp_path: Path) -> None:
    """A raw s3:// sourcedir.tar.gz (as Step Functions sends it) becomes a file:// folder of the run."""
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "train.py").write_text("print('hi')\n")
    (source / "pkg" / "util.py").write_text("X = 1\n")
    s3 = S3Folder(tmp_path / "s3")
    script = Script("train.py", "s3://b/code/run-1/sourcedir.tar.gz")
    s3.put_bytes(sourcedir_tarball(source), script.code_uri)
    client = RecordingClient()
    runner = LocalModeRunner(FakeLocalMode(client, tmp_path / "lm"), s3)  # type: ignore[arg-type]

    runner.call("CreateModel", sm.model("m-2", "img", "s3://b/out/job-2/output/model.tar.gz"))
    model = sm.model("m-3", "img", "s3://b/out/job-2/output/model.tar.gz", environment=script.model_environment())
    runner.call("CreateModel", model)
    assert client.calls[0][1]["PrimaryContainer"]["Environment"] == {}
    environment = client.calls[1][1]["PrimaryContainer"]["Environment"]
    model_folder = tmp_path / "lm" / "code" / "model" / "m-3"
    assert environment == {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"file://{model_folder}"}
    assert (model_folder / "train.py").is_file() and (model_folder / "pkg" / "util.py").is_file()


def test_sourcedir_tarball_is_reproducible_and_leaves_caches_out(tmp_path: Path) -> None:
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "train.py").write_text("pass\n")
    first = sourcedir_tarball(tmp_path)
    (tmp_path / "train.py").touch()  # a new timestamp does not change the archive
    assert sourcedir_tarball(tmp_path) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert [(m.name, m.mtime, m.uid) for m in tar.getmembers()] == [("train.py", 0, 0)]
