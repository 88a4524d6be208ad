"""What the local runner adds to SDK local mode, with a recording stand-in for the SDK's client (no Docker)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from byoc_pipelines.local.artifacts import pictures_from, training_artifacts
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.s3 import S3Folder
from byoc_pipelines.sagemaker import requests as sm


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class RecordingClient:
    """Answers like the SDK's local client (None for creates); training writes the tarballs local mode writes."""

    def __init__(self, failure: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failure = failure

    def create_training_job(self, **request: Any) -> None:
        self.calls.append(("create_training_job", request))
        output = Path(request["OutputDataConfig"]["S3OutputPath"].removeprefix("file://"))
        tarball(output / "model.tar.gz", {"model.npz": b"weights"})
        tarball(output / "output.tar.gz", {"data/training_curves.png": b"png", **self._failure_file()})
        if self.failure:
            raise RuntimeError("Failed to run: docker compose up. Process exited with code: 1")

    def _failure_file(self) -> dict[str, bytes]:
        return {"failure": self.failure.encode()} if self.failure else {}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": "Completed"}

    def create_model(self, **request: Any) -> None:
        self.calls.append(("create_model", request))


class FakeLocalMode:
    region = "eu-west-1"

    def __init__(self, client: RecordingClient) -> None:
        self.sagemaker_client = client


def test_s3_uris_are_folders_both_ways(tmp_path: Path) -> None:
    s3 = S3Folder(tmp_path)
    request = {"A": "s3://b/k/", "B": ["s3://b/x", "plain"], "C": 3}
    as_files = s3.to_files(request)
    assert as_files == {"A": f"file://{tmp_path}/b/k/", "B": [f"file://{tmp_path}/b/x", "plain"], "C": 3}
    assert s3.to_s3(as_files) == request
    assert s3.s3_uri("file:///elsewhere/k") == "file:///elsewhere/k"
    with pytest.raises(ValueError, match="not an s3:// URI"):
        s3.path("file:///x")


def test_training_runs_in_aws_layout_and_answers_in_s3_terms(tmp_path: Path) -> None:
    client = RecordingClient()
    runner = LocalModeRunner(FakeLocalMode(client), S3Folder(tmp_path), account="111122223333")  # type: ignore[arg-type]
    request = sm.training_job("job-1", "img", {"train": "s3://b/in/"}, "s3://b/out/", role_arn="arn:role")
    assert runner.call("CreateTrainingJob", request) == {
        "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:111122223333:training-job/job-1"
    }
    sent = client.calls[0][1]
    assert sent["OutputDataConfig"]["S3OutputPath"] == f"file://{tmp_path}/b/out/job-1/output"
    assert sent["InputDataConfig"][0]["DataSource"] == {
        "FileDataSource": {"FileUri": f"file://{tmp_path}/b/in/", "FileDataDistributionType": "FullyReplicated"}
    }
    assert "RoleArn" not in sent and sent["ResourceConfig"]["InstanceType"] == "local"
    assert runner.call("DescribeTrainingJob", {"TrainingJobName": "job-1"})["TrainingJobStatus"] == "Completed"
    assert runner.call("CreateModel", sm.model("m", "img", "s3://b/out/job-1/output/model.tar.gz")) == {
        "ModelArn": "arn:aws:sagemaker:eu-west-1:111122223333:model/m"
    }
    assert (
        client.calls[1][1]["PrimaryContainer"]["ModelDataUrl"] == f"file://{tmp_path}/b/out/job-1/output/model.tar.gz"
    )


def test_a_failing_container_makes_a_failed_job_with_its_reason(tmp_path: Path) -> None:
    runner = LocalModeRunner(FakeLocalMode(RecordingClient(failure="unknown hyperparameter(s) 'epochz'\n")))  # type: ignore[arg-type]
    runner.call(
        "CreateTrainingJob", sm.training_job("bad", "img", {"train": f"file://{tmp_path}"}, f"file://{tmp_path}")
    )
    assert runner.call("DescribeTrainingJob", {"TrainingJobName": "bad"}) == {
        "TrainingJobName": "bad",
        "TrainingJobStatus": "Failed",
        "FailureReason": "unknown hyperparameter(s) 'epochz'",
    }


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
