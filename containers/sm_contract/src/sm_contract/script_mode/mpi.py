"""Open MPI across the job's hosts: sshd on the workers, ``mpirun`` on the master, one rank wrapper per process.

The master's ``mpirun`` reaches the workers over SSH with this job's own keys (:mod:`ssh`), with the network
interface SageMaker names in ``resourceconfig.json``. Every rank starts through
``python -m sm_contract.script_mode.rank``, which gives it its own host's ``SM_CURRENT_HOST`` and, off the master,
a private model folder, so only the master's model is kept.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sm_contract.errors import ConfigurationError

logger = logging.getLogger(__name__)

MPIRUN = "mpirun"
# Variables of the environment that stay per host instead of travelling with mpirun's -x.
LOCAL_VARIABLES = frozenset({"HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "TERM"})


def _flag(settings: Mapping[str, Any], *names: str) -> bool | None:
    for name in names:
        if name in settings:
            value = settings[name]
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    return None


def _count(settings: Mapping[str, Any], names: Sequence[str], default: int) -> int:
    for name in names:
        if name in settings:
            try:
                value = int(settings[name])
            except (TypeError, ValueError):
                raise ConfigurationError(f"hyperparameter {name}={settings[name]!r} is not an integer") from None
            if value < 1:
                raise ConfigurationError(f"hyperparameter {name}={value} must be at least 1")
            return value
    return default


@dataclass(frozen=True)
class MpiSettings:
    """From the toolkit's ``sagemaker_mpi_*`` and the old Chainer container's names."""

    enabled: bool
    processes_per_host: int = 1
    processes: int | None = None
    options: tuple[str, ...] = ()

    @classmethod
    def from_hyperparameters(cls, settings: Mapping[str, Any], *, default: bool) -> MpiSettings:
        enabled = _flag(settings, "sagemaker_mpi_enabled", "sagemaker_use_mpi")
        per_host = _count(settings, ("sagemaker_mpi_num_of_processes_per_host", "sagemaker_process_slots_per_host"), 1)
        total = None
        if any(n in settings for n in ("sagemaker_mpi_num_processes", "sagemaker_num_processes")):
            total = _count(settings, ("sagemaker_mpi_num_processes", "sagemaker_num_processes"), 1)
        raw = settings.get("sagemaker_mpi_custom_mpi_options") or settings.get("sagemaker_additional_mpi_options")
        return cls(default if enabled is None else enabled, per_host, total, tuple(shlex.split(str(raw or ""))))


def available() -> bool:
    return shutil.which(MPIRUN) is not None


def mpirun_command(
    hosts: Sequence[str],
    settings: MpiSettings,
    interface: str,
    environment: Mapping[str, str],
    program: Sequence[str],
    workdir: Path,
    ssh: str | None = None,
) -> list[str]:
    """The master's ``mpirun`` line (the options the SageMaker framework containers use, see docs §8.2).

    ``ssh``: the options ``mpirun`` gives ``ssh`` to reach the workers (:func:`sm_contract.script_mode.ssh.options`).
    """
    processes = settings.processes or settings.processes_per_host * len(hosts)
    command = [
        MPIRUN,
        "--host",
        ",".join(f"{host}:{settings.processes_per_host}" for host in hosts),
        "-np",
        str(processes),
        "--allow-run-as-root",
        "--tag-output",
        "--oversubscribe",
        "-wdir",
        str(workdir),
        "-mca",
        "btl_tcp_if_include",
        interface,
        "-mca",
        "oob_tcp_if_include",
        interface,
        "-mca",
        "plm_rsh_no_tree_spawn",
        "1",
        "-mca",
        "pml",
        "ob1",
        "-mca",
        "btl",
        "^openib",
        "-mca",
        "orte_abort_on_non_zero_status",
        "1",
    ]
    if ssh:
        command += ["-mca", "plm_rsh_args", ssh]
    for name in sorted(environment):
        if name not in LOCAL_VARIABLES and name.isidentifier():
            command += ["-x", name]
    command += list(settings.options)
    return [*command, sys.executable, "-m", "sm_contract.script_mode.rank", "--", *abort_on_failure(program)]


def abort_on_failure(program: Sequence[str]) -> list[str]:
    """A Python program under ``python -m mpi4py``: a rank that fails aborts the whole job.

    Without it, a rank that raises waits in ``MPI_Finalize`` for ranks that wait in a collective for it.
    """
    if len(program) > 1 and Path(program[0]).name.startswith("python") and program[1:3] != ["-m", "mpi4py"]:
        return [program[0], "-m", "mpi4py", *program[1:]]
    return list(program)


def worker_model_dir() -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / "sm-worker-model"  # noqa: S108 - per-container scratch
