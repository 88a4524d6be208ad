"""Script mode and multi-host training: fetch the user's code, build its environment, run it on one or many hosts.

One host runs the program directly. Several hosts run it under MPI (the master's ``mpirun`` starts every rank;
workers only serve SSH), or each host runs it itself (TensorFlow's ``MultiWorkerMirroredStrategy`` with a
``TF_CONFIG``); either way workers outlive the master's work (:mod:`cluster`). The image's built-in trainer uses
the same launcher when a job has several hosts. The exit code is the program's own; its failure reason names the
program and its last error line, unless the program wrote ``/opt/ml/output/failure`` itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError
from sm_contract.script_mode import cluster, mpi, process, script_env, ssh, user_code
from sm_contract.script_mode.framework import Framework
from sm_contract.training import StopSignal, write_failure

logger = logging.getLogger(__name__)

TF_PORT = 8890  # the port SageMaker's TensorFlow containers give each worker in TF_CONFIG
STOP_GRACE_VAR = "SCRIPT_STOP_GRACE_SECONDS"
MWMS_SWITCH = "sagemaker_multi_worker_mirrored_strategy_enabled"
KEY, SSHD_KEY = "key", "sshd"  # the lines of the SSH key exchange: the master's client key, a worker's host key


@dataclass(frozen=True)
class Launch:
    """One program to run on this host: its command, environment, folder and name in messages."""

    command: Sequence[str]
    environment: Mapping[str, str]
    workdir: Path
    label: str


def run_user_script(env: TrainingEnv, stop: StopSignal, framework: Framework) -> int:
    """The job's ``sagemaker_program`` from ``sagemaker_submit_directory``, as AWS's framework containers run it."""
    settings = env.script
    assert settings is not None
    code_dir = user_code.fetch(settings.submit_directory, env.paths.code_dir, env.environ)
    user_code.install_requirements(code_dir, env.environ)
    training = script_env.training_env(env)
    args = script_env.cmd_args(training["hyperparameters"])
    if framework.model_dir_argument and "model_dir" not in training["hyperparameters"]:
        args += ["--model_dir", training["model_dir"]]
    command = process.entry_point_command(code_dir, settings.program, args)
    return _launch(
        env, stop, framework, Launch(command, _environment(env, training, code_dir), code_dir, settings.program)
    )


def run_builtin(env: TrainingEnv, stop: StopSignal, framework: Framework) -> int:
    """The image's built-in trainer on several hosts, launched like a user's script."""
    training = script_env.training_env(env)
    command = [sys.executable, "-m", framework.builtin_module]
    label = f"the built-in {framework.name} trainer"
    launch = Launch(command, _environment(env, training, None), Path.cwd(), label)
    return _launch(env, stop, framework, launch, tf_config=True)


def _environment(env: TrainingEnv, training: Mapping[str, Any], code_dir: Path | None) -> dict[str, str]:
    environment = {**env.environ, **script_env.env_vars(training)}
    if code_dir is not None:  # the script's own modules import as they do in AWS's containers
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_dir), environment.get("PYTHONPATH")]))
    return environment


def _launch(
    env: TrainingEnv, stop: StopSignal, framework: Framework, launch: Launch, *, tf_config: bool = False
) -> int:
    """``tf_config``: give every host a TF_CONFIG even when the job did not ask (the built-in trainer's case)."""
    _, reserved = script_env.split_hyperparameters(env.hyperparameters)
    several = len(env.hosts) > 1
    settings = mpi.MpiSettings.from_hyperparameters(reserved, default=several and framework.multi_host == "mpi")
    if settings.enabled:
        if not mpi.available():
            raise ConfigurationError(f"this image ({framework.name}) has no MPI; {_per_host_hint(framework)}")
        return _mpi(env, stop, settings, launch)
    if not several:
        return _run(env, stop, launch)
    return _per_host(env, stop, launch, tf_config or bool(reserved.get(MWMS_SWITCH)))


def _per_host_hint(framework: Framework) -> str:
    if framework.name == "tensorflow":
        return f"set {MWMS_SWITCH} for several hosts"
    return "leave sagemaker_mpi_enabled unset"


def _grace_s(env: TrainingEnv) -> float:
    raw = env.environ.get(STOP_GRACE_VAR, "")
    return float(raw) if raw.strip() else process.DEFAULT_STOP_GRACE_S


def _run(env: TrainingEnv, stop: StopSignal, launch: Launch) -> int:
    """Run the program on this host; its outcome becomes the exit code and, on failure, the failure reason."""
    failure = env.paths.failure_file
    before = failure.stat().st_mtime_ns if failure.exists() else None
    outcome = process.run(launch.command, env=launch.environment, cwd=launch.workdir, stop=stop, grace_s=_grace_s(env))
    if outcome.exit_code == 0:
        return 0
    if failure.exists() and failure.stat().st_mtime_ns != before:
        logger.error("%s exited %d; keeping the failure reason it wrote", launch.label, outcome.exit_code)
        return outcome.exit_code
    if outcome.stopped:
        reason = f"{launch.label} stopped by signal (exit {outcome.exit_code})"
    else:
        reason = f"{launch.label} exited {outcome.exit_code}" + (
            f": {outcome.error_line}" if outcome.error_line else ""
        )
    logger.error(write_failure(env.paths, reason))
    return outcome.exit_code


def _mpi(env: TrainingEnv, stop: StopSignal, settings: mpi.MpiSettings, launch: Launch) -> int:
    if not env.is_master:
        return _mpi_worker(env, stop)
    workers = [h for h in env.hosts if h != env.hosts[0]]
    master = cluster.Master(workers).open()
    ok = False
    try:
        master.wait_ready(stop=stop)
        # This job's SSH keys: ours to the workers, theirs back (see ssh); then mpirun logs in with them.
        answers = master.exchange(f"{KEY} {ssh.client_key()}", stop=stop)
        ssh.trust_hosts({host: _word_after(SSHD_KEY, answer, host) for host, answer in answers.items()})
        command = mpi.mpirun_command(
            env.hosts,
            settings,
            env.network_interface_name,
            launch.environment,
            launch.command,
            launch.workdir,
            ssh=ssh.options(),
        )
        code = _run(env, stop, Launch(command, launch.environment, launch.workdir, launch.label))
        ok = code == 0
        return code
    finally:
        master.finish(ok)


def _mpi_worker(env: TrainingEnv, stop: StopSignal) -> int:
    """A worker's part of an MPI job: take the master's key, serve SSH, stay until the master says it is over."""
    link = cluster.join(env.hosts[0], env.current_host)
    try:
        try:
            line = cluster.read_line(link, cluster.WAIT_S, stop)
        except cluster.ClusterError as exc:
            if stop.requested:
                return _worker_exit(env, stop, "")
            raise cluster.ClusterError(f"master host {env.hosts[0]} sent no SSH key for this job: {exc}") from None
        if line in (cluster.DONE, cluster.FAILED):  # the master's work ended before it began: nothing to serve
            return _worker_exit(env, stop, line)
        host_key = ssh.prepare_sshd(_word_after(KEY, line, env.hosts[0]))
        daemon = ssh.start_sshd(ssh.listen_addresses(env.current_host, env.network_interface_name))
        try:
            link.sendall(f"{SSHD_KEY} {host_key}\n".encode())
            verdict = cluster.wait_for_master(link, stop)
        finally:
            daemon.terminate()
    finally:
        link.close()
    return _worker_exit(env, stop, verdict)


def _word_after(word: str, line: str, host: str) -> str:
    """``<key>`` of a ``<word> <key>`` line the other host sent."""
    found, _, rest = line.partition(" ")
    if found != word or not rest:
        raise cluster.ClusterError(f"host {host} sent {line[:40]!r} where {word!r} and a key were expected")
    return rest


def _worker_exit(env: TrainingEnv, stop: StopSignal, verdict: str) -> int:
    if verdict in (cluster.DONE, cluster.FAILED):
        logger.info("the master reports the job %s; this host is done", verdict)
        return 0  # a failed job keeps the master's failure reason
    if stop.requested:
        return 143
    write_failure(env.paths, f"master host {env.hosts[0]} ended without reporting how the job went")
    return 1


def tf_config(hosts: Sequence[str], current_host: str) -> str:
    """``TF_CONFIG`` for ``MultiWorkerMirroredStrategy``: every host a worker, the master first (the chief)."""
    return json.dumps(
        {
            "cluster": {"worker": [f"{host}:{TF_PORT}" for host in hosts]},
            "task": {"type": "worker", "index": list(hosts).index(current_host)},
        }
    )


def _per_host(env: TrainingEnv, stop: StopSignal, launch: Launch, with_tf_config: bool) -> int:
    """Every host runs the program itself; workers keep their model apart and wait for the master to finish."""
    environment = dict(launch.environment)
    if with_tf_config:
        environment["TF_CONFIG"] = tf_config(env.hosts, env.current_host)
    if env.is_master:
        master = cluster.Master([h for h in env.hosts if h != env.hosts[0]]).open()
        ok = False
        try:
            master.wait_ready(stop=stop)
            code = _run(env, stop, Launch(launch.command, environment, launch.workdir, launch.label))
            ok = code == 0
            return code
        finally:
            master.finish(ok)
    scratch = mpi.worker_model_dir()
    scratch.mkdir(parents=True, exist_ok=True)
    environment.update(script_env.for_host(environment, env.current_host, scratch))
    command = [str(scratch) if arg == str(env.paths.model_dir) else arg for arg in launch.command]
    link = cluster.join(env.hosts[0], env.current_host)
    code = _run(env, stop, Launch(command, environment, launch.workdir, launch.label))
    if code != 0:
        link.close()
        return code
    return _worker_exit(env, stop, cluster.wait_for_master(link, stop))
