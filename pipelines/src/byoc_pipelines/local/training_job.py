"""One training job's life on this machine: attempts, the spot restart, the outcome, and its description.

Statuses, secondary statuses and their order follow ``DescribeTrainingJob`` (botocore's ``TrainingJobStatus`` and
``SecondaryStatus``): ``Starting`` -> ``Training`` -> ``Uploading`` -> ``Completed``; ``Stopping`` -> ``Stopped``;
``MaxRuntimeExceeded`` and ``MaxWaitTimeExceeded`` end ``Stopped``; a spot interruption is ``Interrupted``, then
``Restarting`` under managed spot training. Model artifacts are uploaded for Completed and Stopped jobs (a stopped
algorithm may save its model in the 120 s it is given, as the StopTrainingJob documentation says).
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from byoc_pipelines.local import job_files
from byoc_pipelines.local.attempt import Attempt, Launch, Signals, run_attempt
from byoc_pipelines.local.job_files import HostTree

# Fields of the request DescribeTrainingJob repeats as they were sent.
_ECHOED = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "HyperParameters",
    "CheckpointConfig",
    "EnableManagedSpotTraining",
    "Environment",
)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Job:
    """One training job: its request, statuses and attempts. Changed by its own thread, read under ``lock``."""

    request: dict[str, Any]
    arn: str
    folder: Path
    created: datetime.datetime = field(default_factory=now)
    status: str = "InProgress"
    secondary: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    started: datetime.datetime | None = None
    ended: datetime.datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)
    training_s: float = 0.0  # time in the Training secondary status, every attempt
    lock: threading.RLock = field(default_factory=threading.RLock)
    done: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None  # a Signals value asked for while no attempt was running

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)  # an attempt started, or the job ended

    def attempt(self, number: int, timeout_s: float) -> Attempt | None:
        """Attempt ``number`` (1 is the first) once it has started; None if the job ends without it."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.attempts) >= number or self.done.is_set(), timeout_s)
            return self.attempts[number - 1] if len(self.attempts) >= number else None

    @property
    def name(self) -> str:
        return str(self.request["TrainingJobName"])

    @property
    def stopping(self) -> dict[str, Any]:
        return dict(self.request.get("StoppingCondition") or {})

    @property
    def managed_spot(self) -> bool:
        """Managed spot training: restarted after an interruption (needs checkpoints and a maximum wait)."""
        request = self.request
        return bool(
            request.get("EnableManagedSpotTraining")
            and request.get("CheckpointConfig")
            and self.stopping.get("MaxWaitTimeInSeconds")
        )

    @property
    def model_uri(self) -> str:
        output = str(self.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        return f"{output}/{self.name}/output/model.tar.gz"

    def transition(self, secondary: str, message: str) -> None:
        with self.lock:
            moment = now()
            if self.transitions:
                self.transitions[-1]["EndTime"] = moment
            self.transitions.append({"Status": secondary, "StartTime": moment, "StatusMessage": message})
            self.secondary = secondary

    def end(self, status: str, secondary: str, message: str, failure: str | None = None) -> None:
        with self.lock:
            self.transition(secondary, message)
            self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
            self.status, self.failure, self.ended = status, failure, now()
            self.changed.notify_all()


def _limit(job: Job, launch: Launch) -> tuple[Launch, str]:
    """This attempt's time limit: the training time left, or (managed spot) the wait left if that comes first."""
    runtime_left = float(launch.max_runtime_s or 0) - job.training_s
    wait = job.stopping.get("MaxWaitTimeInSeconds")
    if job.managed_spot and wait:
        wait_left = float(wait) - (now() - job.created).total_seconds()
        if wait_left < runtime_left:
            return replace(launch, max_runtime_s=max(wait_left, 0.0)), "MaxWaitTimeExceeded"
    return replace(launch, max_runtime_s=max(runtime_left, 0.0)), "MaxRuntimeExceeded"


def _start_attempt(job: Job, hosts: list[str], restored: str) -> Attempt | None:
    """Register the next attempt, or None when the job was stopped before its containers started."""
    with job.lock:
        if job.stop_reason is not None:
            return None
        attempt = Attempt(len(job.attempts) + 1, hosts)
        job.attempts.append(attempt)
        job.changed.notify_all()
        job.started = job.started or now()
        restore = f"; /opt/ml/checkpoints restored: {restored}" if restored else ""
        job.transition("Training", f"Training image running on {len(hosts)} host(s), attempt {attempt.number}{restore}")
        return attempt


def _restore(checkpoints: Path | None, trees: list[HostTree]) -> str:
    """Seed every host's checkpoint folder; what was restored, e.g. ``2 files (epoch 2, step 0)``."""
    count = job_files.restore_checkpoints(checkpoints, trees) if checkpoints else 0
    if not count or checkpoints is None:
        return ""
    position = job_files.checkpoint_position(checkpoints)
    return f"{count} files" + (f", resuming at {position}" if position else "")


def run_job(job: Job, client: Any, launch: Launch) -> None:
    """Attempts until the job ends; after a spot interruption under managed spot training, one more."""
    hosts = job_files.hosts_of(int(job.request["ResourceConfig"]["InstanceCount"]))
    checkpoint_uri = (job.request.get("CheckpointConfig") or {}).get("S3Uri")
    checkpoints = job_files.local_path(checkpoint_uri) if checkpoint_uri else None
    while True:
        number = len(job.attempts) + 1
        trees = job_files.write_trees(job.request, job.folder / f"attempt-{number}", hosts, job.folder / "code")
        restored = _restore(checkpoints, trees)
        attempt = _start_attempt(job, hosts, restored)
        if attempt is None:
            job.end("Stopped", "Stopped", "Training job stopped before it started")
            return
        limited, limit_status = _limit(job, launch)
        started = time.monotonic()
        run_attempt(client, limited, trees, attempt)
        job.training_s += time.monotonic() - started
        if checkpoints is not None:
            job_files.save_checkpoints(trees, checkpoints)
        if attempt.signalled == Signals.INTERRUPT and job.managed_spot:
            job.transition("Interrupted", "Training job interrupted: the spot instance was reclaimed")
            job.transition("Restarting", "Restarting the training job from its checkpoints (CheckpointConfig.S3Uri)")
            continue
        _finish(job, attempt, trees, limit_status)
        return


def _finish(job: Job, attempt: Attempt, trees: list[HostTree], limit_status: str) -> None:
    master = trees[0]
    job.transition("Uploading", "Uploading generated training model")
    job_output = job_files.local_path(job.model_uri).parent
    signalled = attempt.signalled
    if signalled == Signals.STOP:
        job_files.upload_artifacts(master, job_output)
        job.end("Stopped", "Stopped", "Training job stopped")
    elif signalled == Signals.MAX_RUNTIME:
        job_files.upload_artifacts(master, job_output)
        job.end("Stopped", limit_status, f"Training job stopped: {limit_status}")
    elif signalled == Signals.INTERRUPT:
        job_files.upload_artifacts(master, job_output)
        job.end("Stopped", "Interrupted", "Training job interrupted: the spot instance was reclaimed (no managed spot)")
    elif attempt.failed_host() is None:
        job_files.upload_artifacts(master, job_output)
        job.end("Completed", "Completed", "Training job completed")
    else:
        host = attempt.failed_host() or master.host
        failed = next(tree for tree in trees if tree.host == host)
        reason = failed.failure_reason() or master.failure_reason()
        reason = (
            reason or f"AlgorithmError: {host} exited with code {attempt.exits[host]} and no /opt/ml/output/failure"
        )
        job_files.upload_artifacts(master, job_output, model=False)
        job.end("Failed", "Failed", "Training job failed", failure=reason)


def final_metrics(job: Job) -> list[dict[str, Any]]:
    """``FinalMetricDataList``: the last value each ``MetricDefinitions`` regex found in the first host's log."""
    definitions = job.request["AlgorithmSpecification"].get("MetricDefinitions") or []
    lines = [line for attempt in job.attempts for line in attempt.lines.get("algo-1", [])]
    found = []
    for definition in definitions:
        regex = re.compile(definition["Regex"])
        values = [match.group(1) for match in map(regex.search, lines) if match and match.groups()]
        numbers = [float(value) for value in values if _is_number(value)]
        if numbers:
            found.append({"MetricName": definition["Name"], "Value": numbers[-1], "Timestamp": now()})
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def describe(job: Job) -> dict[str, Any]:
    """DescribeTrainingJob's answer (datetimes as such: the runner makes the answer JSON)."""
    answer: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "ModelArtifacts": {"S3ModelArtifacts": job.model_uri},
        "TrainingJobStatus": job.status,
        "SecondaryStatus": job.secondary,
        "StoppingCondition": job.stopping or {"MaxRuntimeInSeconds": 86400},
        "CreationTime": job.created,
        "LastModifiedTime": job.transitions[-1]["StartTime"] if job.transitions else job.created,
        "SecondaryStatusTransitions": [dict(item) for item in job.transitions],
    }
    answer |= {key: job.request[key] for key in _ECHOED if key in job.request}
    if job.started:
        answer["TrainingStartTime"] = job.started
    if job.ended:
        answer["TrainingEndTime"] = job.ended
        answer["TrainingTimeInSeconds"] = max(1, round(job.training_s))
        answer["BillableTimeInSeconds"] = max(1, round(job.training_s))
    if job.failure:
        answer["FailureReason"] = job.failure
    metrics = final_metrics(job)
    if metrics:
        answer["FinalMetricDataList"] = metrics
    return answer
