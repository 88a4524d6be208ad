"""Real faults in real containers, chosen per state and per attempt: nothing about the faulty call is mocked.

A fault file has the mock file's shape (:mod:`byoc_pipelines.local.mocks`): ``StateMachines.<machine>.TestCases.
<case>`` maps a state to a fault name, and ``Faults.<name>`` maps invocations (``"0"``, ``"1-2"``) to one fault::

    {"StateMachines": {"byoc-chainer-mnist-batch": {"TestCases": {"SpotResume": {"Train Model": "Reclaimed"}}}},
     "Faults": {"Reclaimed": {"0": {"SpotInterruption": {"AfterLog": "\\\\bepoch=1\\\\b"}}}}}

or one ``--fault "STATE=KIND[:N]"`` flag per state (the first N invocations, 1 by default). Kinds:

* ``FailTraining`` ``{"HyperParameters": {...}}``: the training job gets these extra hyperparameters, so the
  training code itself fails (by default an unknown hyperparameter, which the images refuse; a user's script
  gets it as an argument it does not know) and the job ends ``Failed`` with its failure file's reason;
* ``StopTrainingJob``, ``SpotInterruption``, ``AbortExecution`` ``{"AfterLog": regex}``: once a host of the
  training job logs a matching line (by default the images' metric line of epoch 1), StopTrainingJob, a spot
  interruption (SIGTERM, and a restart from the checkpoints under managed spot training) or StopExecution;
* ``Throttle`` ``{"Code": "ThrottlingException"}``: the SageMaker call fails with that error code, as a
  throttled API answers (``ResourceLimitExceeded`` for a resource limit);
* ``FailingModel`` on a ``createModel`` task: the model serves a script-mode module (``SAGEMAKER_PROGRAM``, its
  code folder as ``SAGEMAKER_SUBMIT_DIRECTORY``) that loads and passes ``/ping`` but raises on every prediction, so
  its container answers 500 and InvokeEndpoint answers ``ModelError`` (424, ``OriginalStatusCode`` 500).
"""

from __future__ import annotations

import contextlib
import logging
import textwrap
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.mocking.mock_config import _parse_mocked_response_range

from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.local.mocks import case_states
from byoc_pipelines.sagemaker.runner import SageMakerRunner, client_error
from byoc_pipelines.sagemaker.script_mode import MODEL_PROGRAM, MODEL_SUBMIT_DIRECTORY

logger = logging.getLogger(__name__)

DEFAULT_AFTER_LOG: Final = r"\bepoch=1\b"  # the images' metric line of the first epoch
DEFAULT_FAILING: Final = {"fault-injected-failure": "the training script fails"}
LINE_WAIT_S: Final = 3600.0  # how long a triggered fault waits for its line before giving up
FAILING_PROGRAM: Final = "failing_model.py"
# Both images serve a model's SAGEMAKER_PROGRAM through sm_contract's user module: an exception from predict_fn is
# a 500 (one from input_fn would be the client's 400).
FAILING_MODULE: Final = textwrap.dedent(
    '''
    """A fault injected by a local run: loads, passes /ping, and fails every prediction (a 500)."""


    def model_fn(model_dir):
        return model_dir


    def input_fn(body, content_type):
        return body


    def predict_fn(data, model):
        raise RuntimeError("injected fault: this model fails every prediction")
    '''
).lstrip()


class FaultKind(StrEnum):
    FAIL_TRAINING = "FailTraining"
    STOP_TRAINING_JOB = "StopTrainingJob"
    SPOT_INTERRUPTION = "SpotInterruption"
    ABORT_EXECUTION = "AbortExecution"
    THROTTLE = "Throttle"
    FAILING_MODEL = "FailingModel"


TRAINING_ONLY: Final = {FaultKind.FAIL_TRAINING, FaultKind.STOP_TRAINING_JOB, FaultKind.SPOT_INTERRUPTION}
TRIGGERED: Final = {FaultKind.STOP_TRAINING_JOB, FaultKind.SPOT_INTERRUPTION, FaultKind.ABORT_EXECUTION}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    after_log: str = DEFAULT_AFTER_LOG
    code: str = "ThrottlingException"
    hyperparameters: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FAILING))

    @classmethod
    def parse(cls, where: str, entry: Any) -> Fault:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigurationError(f"{where}: one fault per invocation, one of {', '.join(FaultKind)}")
        ((kind, options),) = entry.items()
        if kind not in set(FaultKind):
            raise ConfigurationError(f"{where}: unknown fault {kind!r}; known: {', '.join(FaultKind)}")
        options = options or {}
        return cls(
            FaultKind(kind),
            after_log=str(options.get("AfterLog", DEFAULT_AFTER_LOG)),
            code=str(options.get("Code", "ThrottlingException")),
            hyperparameters=dict(options.get("HyperParameters", DEFAULT_FAILING)),
        )


@dataclass(frozen=True)
class FaultPlan:
    """Faults by state name and invocation number (0 is the first attempt, retries count on)."""

    faults: Mapping[str, Mapping[int, Fault]] = field(default_factory=dict)

    def at(self, state: str, invocation: int) -> Fault | None:
        return self.faults.get(state, {}).get(invocation)

    def states(self) -> set[str]:
        return set(self.faults)

    def merged(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan({**self.faults, **other.faults})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], state_machines: Sequence[str], test_case: str) -> FaultPlan:
        named = config.get("Faults") or {}
        faults: dict[str, dict[int, Fault]] = {}
        for state, name in case_states(config, state_machines, test_case).items():
            if name not in named:
                raise ConfigurationError(f"{state}: no Faults.{name} in the file")
            faults[state] = {}
            for key, entry in named[name].items():
                try:
                    start, end = _parse_mocked_response_range(key)
                except RuntimeError as exc:
                    raise ConfigurationError(f"{state}: {exc}") from exc
                fault = Fault.parse(f"{state}: Faults.{name}.{key}", entry)
                faults[state].update(dict.fromkeys(range(start, end + 1), fault))
        return cls(faults)

    @classmethod
    def from_flags(cls, flags: Sequence[str]) -> FaultPlan:
        """``["Train Model=SpotInterruption", "Create Model=Throttle:2"]``."""
        faults: dict[str, dict[int, Fault]] = {}
        for flag in flags:
            state, _, spec = flag.partition("=")
            kind, _, count = spec.partition(":")
            if not state or not kind or (count and not count.isdigit()):
                raise ConfigurationError(f"--fault {flag!r}: use STATE=KIND[:N], e.g. 'Create Model=Throttle:2'")
            fault = Fault.parse(f"--fault {flag!r}", {kind: {}})
            faults[state] = dict.fromkeys(range(int(count or 1)), fault)
        return cls(faults)

    def problems(self, resources: Mapping[str, str]) -> list[str]:
        """Faults on states the definition lacks, or training faults on a state that starts no training job."""
        found = []
        for state, by_invocation in self.faults.items():
            if state not in resources:
                found.append(f"{state}: not a Task state of the definition")
                continue
            kinds = {fault.kind for fault in by_invocation.values()}
            if kinds & (TRAINING_ONLY | TRIGGERED) and ":createTrainingJob" not in resources[state]:
                found.append(f"{state}: {', '.join(sorted(kinds))} needs a createTrainingJob task")
            if FaultKind.FAILING_MODEL in kinds and not resources[state].endswith(":sagemaker:createModel"):
                found.append(f"{state}: {FaultKind.FAILING_MODEL} needs a sagemaker:createModel task")
        return found


def before_call(
    fault: Fault | None, operation: str, request: Mapping[str, Any], runner: SageMakerRunner | None = None
) -> dict[str, Any]:
    """The request as the faulty attempt sends it; a throttle raises the API's error instead."""
    if fault is None:
        return dict(request)
    if fault.kind is FaultKind.THROTTLE:
        raise client_error(fault.code, f"Rate exceeded (injected fault {fault.code})", operation)
    if fault.kind is FaultKind.FAIL_TRAINING:
        return {**request, "HyperParameters": {**(request.get("HyperParameters") or {}), **fault.hyperparameters}}
    if fault.kind is FaultKind.FAILING_MODEL:
        return failing_model(request, runner)
    return dict(request)


def failing_model(request: Mapping[str, Any], runner: SageMakerRunner | None) -> dict[str, Any]:
    """A CreateModel request whose container serves :data:`FAILING_MODULE` from a code folder of the run."""
    local_mode = getattr(runner, "local_mode", None)
    if local_mode is None:
        raise ConfigurationError(f"{FaultKind.FAILING_MODEL} needs models served on this machine (LocalModeRunner)")
    folder = Path(local_mode.root) / "faults" / str(request["ModelName"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILING_PROGRAM).write_text(FAILING_MODULE)
    container = dict(request["PrimaryContainer"])
    container["Environment"] = {
        **(container.get("Environment") or {}),
        MODEL_PROGRAM: FAILING_PROGRAM,
        MODEL_SUBMIT_DIRECTORY: f"file://{folder}",
    }
    return {**request, "PrimaryContainer": container}


def after_call(fault: Fault | None, runner: SageMakerRunner, request: Mapping[str, Any], execution_arn: str) -> None:
    """Arm a triggered fault: a thread waits for its log line in the training job, then acts."""
    if fault is None or fault.kind not in TRIGGERED:
        return
    training = getattr(runner, "training", None)
    if training is None:
        raise ConfigurationError(f"{fault.kind} needs training jobs run on this machine (LocalModeRunner)")
    job = str(request["TrainingJobName"])
    thread = threading.Thread(
        target=_trigger, args=(fault, runner, training, job, execution_arn), name=f"fault-{job}", daemon=True
    )
    thread.start()


def _trigger(fault: Fault, runner: SageMakerRunner, training: Any, job: str, execution_arn: str) -> None:
    if not training.wait_for_line(job, fault.after_log, LINE_WAIT_S):
        logger.warning("fault %s: %s never logged /%s/; nothing injected", fault.kind, job, fault.after_log)
        return
    logger.info("fault %s on training job %s", fault.kind, job)
    with contextlib.suppress(ClientError):  # the job may have ended in the meantime
        if fault.kind is FaultKind.STOP_TRAINING_JOB:
            runner.call("StopTrainingJob", {"TrainingJobName": job})
        elif fault.kind is FaultKind.SPOT_INTERRUPTION:
            training.interrupt(job)
        else:
            region = execution_arn.split(":")[3]
            sfn = boto3.client("stepfunctions", region_name=region)
            sfn.stop_execution(executionArn=execution_arn, error="Aborted", cause=f"injected fault on {job}")
