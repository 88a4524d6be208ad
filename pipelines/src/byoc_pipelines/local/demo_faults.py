"""``make demo-faults``: the Chainer workflow taking its failure path, then surviving a spot interruption.

1. The training script fails (a real container, a real failure file): the ``Catch`` sends the execution down the
   failure path, which stops what may run and deletes what was created, and the execution fails with the
   original cause.
2. Managed spot training: the instance is reclaimed after the first epoch (SIGTERM, a checkpoint, exit 143), the job
   restarts from its checkpoints and completes; CreateModel is throttled twice and succeeds on the third attempt.

Retry waits are compressed (``retry_wait_scale``) so the demo does not sit out the backoff; the console still shows
the waits the definition asks for.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from byoc_pipelines.errors import JobFailedError
from byoc_pipelines.local import pipeline
from byoc_pipelines.local.faults import FaultPlan
from byoc_pipelines.local.scenario import Scenario
from byoc_pipelines.logs import Progress, RunLogs

DEFINITION = "chainer-mnist-batch"
STAGE = "faults"


@dataclass(frozen=True)
class FaultsDemoOptions:
    image: str = "byoc/chainer-mnist:latest"
    mnist: Path = Path("data/mnist")
    run_dir: Path = Path("build/demo-faults")
    train_size: int = 3000
    epochs: int = 3
    retry_wait_scale: float = 0.02


def _spec(options: FaultsDemoOptions, name: str, scenario: Scenario, epochs: int) -> pipeline.LocalRun:
    return pipeline.LocalRun(
        DEFINITION,
        options.image,
        options.mnist,
        options.run_dir.resolve() / name,
        train_size=options.train_size,
        hyperparameters={"epochs": str(epochs), "units": "100"},
        execution_name=f"demo-{name}",
        scenario=scenario,
    )


def failure_path(options: FaultsDemoOptions, progress: Progress) -> pipeline.LocalOutcome:
    progress.step(STAGE, "1/2: the training script fails -> Catch -> stop and delete what the execution made -> fail")
    faults = FaultPlan.from_flags(["Train Model=FailTraining"])
    scenario = Scenario(faults=faults, retry_wait_scale=options.retry_wait_scale)
    outcome = pipeline.run(_spec(options, "failure", scenario, 1), progress)
    if outcome.status != "FAILED" or outcome.error != "PipelineFailed":
        raise JobFailedError(f"the failure path ended {outcome.status} {outcome.error}, not FAILED PipelineFailed")
    progress.step(STAGE, f"failed as it should, with the original cause: {outcome.cause[:150]}...")
    return outcome


def spot_resume(options: FaultsDemoOptions, progress: Progress) -> pipeline.LocalOutcome:
    progress.step(
        STAGE,
        "2/2: managed spot training reclaimed after epoch 1 -> restart from checkpoints; CreateModel throttled twice",
    )
    faults = FaultPlan.from_flags(["Train Model=SpotInterruption", "Create Model=Throttle:2"])
    scenario = Scenario(faults=faults, spot=True, retry_wait_scale=options.retry_wait_scale)
    outcome = pipeline.run(_spec(options, "spot", scenario, options.epochs), progress)
    summaries = list(outcome.jobs.values())
    if outcome.status != "SUCCEEDED" or not summaries or "attempt 1" not in summaries[0]:
        raise JobFailedError(f"the spot run ended {outcome.status} {outcome.error}; jobs: {summaries}")
    return outcome


def run(options: FaultsDemoOptions, progress: Progress, logs: RunLogs) -> tuple[pipeline.LocalOutcome, ...]:
    shutil.rmtree(options.run_dir, ignore_errors=True)
    with logs.to("failure"):
        failed = failure_path(options, progress)
    with logs.to("spot"):
        resumed = spot_resume(options, progress)
    progress.step(STAGE, f"done in {progress.elapsed_s:.0f} s: the failure path, then a spot resume")
    progress.detail(f"failure path: {failed.status} {failed.error}; training job {', '.join(failed.jobs.values())}")
    progress.detail(f"spot run: {resumed.status}, batch transform accuracy {resumed.accuracy:.4f}")
    progress.detail(f"training job: {', '.join(resumed.jobs.values())}")
    if logs.files:
        progress.detail("container and SDK logs: " + ", ".join(str(path) for path in logs.files))
    return failed, resumed
