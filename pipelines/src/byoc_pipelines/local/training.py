"""Training jobs on this machine, as SageMaker runs them: asynchronous, stoppable, resumable after a spot interruption.

:class:`TrainingJobs` answers ``CreateTrainingJob`` (the job starts in the background and the call returns its
ARN), ``DescribeTrainingJob`` (SageMaker's statuses and secondary statuses with their transitions, the failure
reason from ``/opt/ml/output/failure``, ``FinalMetricDataList`` from ``MetricDefinitions``, billable time) and
``StopTrainingJob`` (SIGTERM, 120 s, SIGKILL; the job ends ``Stopped``), with ``file://`` locations. A spot
interruption (:meth:`TrainingJobs.interrupt`, a fault with no API of its own) stops the containers the same way;
with managed spot training (``EnableManagedSpotTraining``, ``CheckpointConfig``, ``MaxWaitTimeInSeconds``) the job
restarts with ``/opt/ml/checkpoints`` restored, otherwise it ends ``Stopped``.

SageMaker SDK local mode runs a training job inside the create call (docker-compose, until the containers exit),
has no stop, mounts no checkpoint folder and rejects ``CheckpointConfig``, so none of the above can be done on top
of it; this small runner on the Docker SDK keeps its layout (``/opt/ml``, ``algo-N`` hosts on one network, the
model in ``model.tar.gz``) and adds those semantics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker

from byoc_pipelines.local.attempt import Echo, Launch, Signals, echo_to_stdout
from byoc_pipelines.local.training_job import Job, describe, run_job
from byoc_pipelines.sagemaker.runner import client_error

DEFAULT_MAX_RUNTIME_S = 86400  # SageMaker's default MaxRuntimeInSeconds (botocore StoppingCondition)
JOB_LABEL = "byoc.training-job"


class TrainingJobs:
    """Training jobs of one run, each in a thread of its own; ``labels`` mark every container and network."""

    def __init__(
        self,
        root: Path,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        labels: Mapping[str, str] | None = None,
        grace_s: float = 120.0,
        echo: Echo = echo_to_stdout,
        client: Any = None,
    ) -> None:
        self.root, self.region, self.account = root, region, account
        self.labels = dict(labels or {})
        self.grace_s, self.echo = grace_s, echo
        self._client = client
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker.from_env()
        return self._client

    # -- the API ------------------------------------------------------------------------------------------
    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        if operation == "CreateTrainingJob":
            return self.create(request)
        if operation == "DescribeTrainingJob":
            return self.describe(str(request["TrainingJobName"]))
        if operation == "StopTrainingJob":
            self.stop(str(request["TrainingJobName"]))
            return {}
        raise client_error("ValidationException", f"{operation} is not a training job operation", operation)

    def create(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = str(request["TrainingJobName"])
        arn = f"arn:aws:sagemaker:{self.region}:{self.account}:training-job/{name.lower()}"
        with self._lock:
            if name in self._jobs:
                raise client_error("ResourceInUse", f"Training job {name} already exists", "CreateTrainingJob")
            job = Job(dict(request), arn, self.root / "jobs" / name)
            self._jobs[name] = job
        job.transition("Starting", "Launching requested ML instances")
        threading.Thread(target=self._run, args=(job,), name=f"training-job-{name}", daemon=True).start()
        return {"TrainingJobArn": arn}

    def job(self, name: str, operation: str = "DescribeTrainingJob") -> Job:
        with self._lock:
            if name not in self._jobs:
                raise client_error("ValidationException", f"Requested resource not found: {name}", operation)
            return self._jobs[name]

    def describe(self, name: str) -> dict[str, Any]:
        job = self.job(name)
        with job.lock:
            return describe(job)

    def stop(self, name: str) -> None:
        """StopTrainingJob: SIGTERM now, SIGKILL after the grace; only an InProgress job can be stopped."""
        self._signal(self.job(name, "StopTrainingJob"), Signals.STOP, "StopTrainingJob")

    def interrupt(self, name: str) -> None:
        """A spot interruption: SageMaker reclaims the instances (SIGTERM, then SIGKILL after the grace)."""
        self._signal(self.job(name), Signals.INTERRUPT, "StopTrainingJob")

    def _signal(self, job: Job, reason: str, operation: str) -> None:
        with job.lock:
            if job.status != "InProgress":
                message = f"The request was rejected because the training job is in status {job.status}."
                raise client_error("ValidationException", message, operation)
            if reason == Signals.STOP:
                job.status = "Stopping"
                job.transition("Stopping", "Stopping the training job")
            if job.attempts and not job.attempts[-1].finished():
                job.attempts[-1].request(reason)
            else:
                job.stop_reason = reason

    def wait(self, name: str, timeout_s: float | None = None) -> dict[str, Any]:
        """DescribeTrainingJob once the job has ended (Completed, Failed or Stopped)."""
        self.job(name).done.wait(timeout_s)
        return self.describe(name)

    def wait_for_line(self, name: str, pattern: str, timeout_s: float, attempt: int = 1) -> bool:
        """True once a host of the job's attempt ``attempt`` logged a line matching ``pattern`` (a regex)."""
        deadline = time.monotonic() + timeout_s
        found = self.job(name).attempt(attempt, timeout_s)
        return found is not None and found.wait_for_line(pattern, max(0.0, deadline - time.monotonic()))

    def names(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def wait_all(self, timeout_s: float | None = None) -> None:
        """Until every job has ended (after a stop, SIGKILL comes at the latest after the grace)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for name in self.names():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.job(name).done.wait(left)

    def summary(self, name: str) -> str:
        """``Completed`` or e.g. ``Stopped (Interrupted), algo-1 exited 143 1.2 s after SIGTERM``, per attempt."""
        job = self.job(name)
        with job.lock:
            parts = [job.status if job.secondary == job.status else f"{job.status} ({job.secondary})"]
            for attempt in job.attempts:
                for host in attempt.hosts:
                    after = attempt.after_signal_s(host)
                    if after is not None:
                        parts.append(
                            f"attempt {attempt.number}: {host} exited {attempt.exits[host]} {after:.1f} s after SIGTERM"
                        )
            if job.failure:
                parts.append(job.failure)
        return "; ".join(parts)

    def logs(self, name: str, host: str = "algo-1") -> list[str]:
        """Every line ``host`` logged, all attempts in order."""
        job = self.job(name)
        with job.lock:
            return [line for attempt in job.attempts for line in attempt.lines.get(host, [])]

    # -- the job's thread ---------------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        try:
            run_job(job, self.client, self.launch(job))
        except Exception as exc:  # anything the Docker daemon refuses ends the job, as SageMaker would
            job.end(
                "Failed", "Failed", "Training job failed", failure=f"ClientError: {type(exc).__name__}: {exc}"[:1024]
            )
        finally:
            with job.changed:
                job.done.set()
                job.changed.notify_all()

    def launch(self, job: Job) -> Launch:
        request = job.request
        stopping = request.get("StoppingCondition") or {}
        environment = {
            "TRAINING_JOB_NAME": job.name,
            "TRAINING_JOB_ARN": job.arn,
            "AWS_REGION": self.region,
            **(request.get("Environment") or {}),
        }
        return Launch(
            job=job.name,
            image=str(request["AlgorithmSpecification"]["TrainingImage"]),
            environment=environment,
            labels={**self.labels, JOB_LABEL: job.name},
            grace_s=self.grace_s,
            max_runtime_s=float(stopping.get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME_S),
            echo=self.echo,
        )
