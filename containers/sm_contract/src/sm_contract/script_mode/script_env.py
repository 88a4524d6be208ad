"""The arguments and ``SM_*`` environment a user's script gets: those of the sagemaker-training toolkit 5.x.

Built from the same ``/opt/ml`` files the toolkit reads, with the same value formats (JSON with sorted keys and
no spaces for anything that is not a string), so a script written for AWS's framework containers runs unchanged.
Two values are truer than the toolkit's: ``SM_NUM_CPUS`` counts the CPUs the container may use (cgroup quota),
and every host of a multi-host run reports its own ``SM_CURRENT_HOST``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sm_contract.environment import TrainingEnv, available_cpus

# Hyperparameters that configure the toolkit itself: neither arguments of the script nor framework parameters.
TOOLKIT_PARAMS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)
SAGEMAKER_PREFIX = "sagemaker_"
DEFAULT_GROUP = "homogeneousCluster"
# Framework parameters that make the current instance group a distributed one (toolkit semantics).
DISTRIBUTION_SWITCHES = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)


def decode(value: str) -> Any:
    """JSON-decoded when possible, else the raw string (``"3"`` -> 3, ``"hello world"`` stays)."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def split_hyperparameters(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(user hyperparameters, sagemaker_* ones)``, every value decoded."""
    decoded = {key: decode(value) for key, value in raw.items()}
    reserved = {k: v for k, v in decoded.items() if k in TOOLKIT_PARAMS or k.startswith(SAGEMAKER_PREFIX)}
    user = {k: v for k, v in decoded.items() if k not in reserved}
    return user, reserved


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``--key value`` per hyperparameter, sorted by key; one-letter keys get one dash; dicts become ``k=v,...``."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        name = _text(key)
        args.append(f"--{name}" if len(name) > 1 else f"-{name}" if name else "")
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(_text(value))
    return args


def env_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def count_gpus() -> int:
    """GPUs that ``nvidia-smi --list-gpus`` lists; 0 without a driver (SageMaker sets no such variable)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum(1 for line in listed.splitlines() if line.startswith("GPU "))


def _log_level(reserved: Mapping[str, Any]) -> Any:
    return reserved.get("sagemaker_container_log_level", logging.INFO)


def training_env(
    env: TrainingEnv,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    framework_module: str | None = None,
) -> dict[str, Any]:
    """What ``SM_TRAINING_ENV`` holds: the toolkit's whole view of the job, as one JSON object."""
    user, reserved = split_hyperparameters(env.hyperparameters)
    framework = {k: v for k, v in reserved.items() if k not in TOOLKIT_PARAMS}
    resources = dict(env.resource_config) or {"current_host": env.current_host, "hosts": list(env.hosts)}
    hosts = list(resources.get("hosts") or env.hosts)
    groups_config = list(resources.get("instance_groups") or [])
    group = resources.get("current_group_name", DEFAULT_GROUP)
    distribution_groups = framework.get(
        "sagemaker_distribution_instance_groups",
        [group] if any(framework.get(k, False) for k in DISTRIBUTION_SWITCHES) else [],
    )
    if groups_config:
        distribution_hosts = [
            h for g in groups_config if g["instance_group_name"] in distribution_groups for h in g["hosts"]
        ]
    else:
        distribution_hosts = list(hosts)
    master = distribution_hosts[0] if distribution_hosts else env.current_host
    # Without inputdataconfig.json (a hand-made /opt/ml), the channel folders stand in for it.
    data_config = dict(env.input_data_config) or {name: {"TrainingInputMode": "File"} for name in env.channels}
    program = env.script.program if env.script else None
    module_dir = env.script.submit_directory if env.script and env.script.submit_directory else str(env.paths.code_dir)
    paths = env.paths
    return {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {name: str(paths.channel_dir(name)) for name in data_config},
        "current_host": env.current_host,
        "current_instance_group": group,
        "current_instance_group_hosts": next(
            (g["hosts"] for g in groups_config if g["instance_group_name"] == group), []
        ),
        "current_instance_type": resources.get("current_instance_type", "local"),
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": distribution_groups,
        "framework_module": framework_module,
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": str(paths.config_dir),
        "input_data_config": data_config,
        "input_dir": str(paths.base / "input"),
        "instance_groups": [g["instance_group_name"] for g in groups_config],
        "instance_groups_dict": {g["instance_group_name"]: g for g in groups_config},
        "is_hetero": len(groups_config) > 1,
        "is_master": env.current_host == master,
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False,
        "is_smddprun_installed": False,
        "job_name": env.environ.get("TRAINING_JOB_NAME"),
        "log_level": _log_level(reserved),
        "master_hostname": master,
        "model_dir": str(paths.model_dir),
        "module_dir": module_dir,
        "module_name": program[:-3] if program and program.endswith(".py") else program,
        "network_interface_name": resources.get("network_interface_name", "eth0"),
        "num_cpus": available_cpus() if num_cpus is None else num_cpus,
        "num_gpus": count_gpus() if num_gpus is None else num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(paths.output_data_dir),
        "output_dir": str(paths.output_dir),
        "output_intermediate_dir": str(paths.output_dir / "intermediate"),
        "resource_config": resources,
        "topology": resources.get("topology", []),
        "user_entry_point": program,
    }


def env_vars(training: Mapping[str, Any]) -> dict[str, str]:
    """The ``SM_*`` variables of the script, from :func:`training_env`'s view."""
    user = training["hyperparameters"]
    names = {
        "hosts": training["hosts"],
        "network_interface_name": training["network_interface_name"],
        "hps": user,
        "user_entry_point": training["user_entry_point"],
        "framework_params": training["additional_framework_parameters"],
        "resource_config": training["resource_config"],
        "input_data_config": training["input_data_config"],
        "output_data_dir": training["output_data_dir"],
        "channels": sorted(training["channel_input_dirs"]),
        "current_host": training["current_host"],
        "current_instance_type": training["current_instance_type"],
        "current_instance_group": training["current_instance_group"],
        "current_instance_group_hosts": training["current_instance_group_hosts"],
        "instance_groups": training["instance_groups"],
        "instance_groups_dict": training["instance_groups_dict"],
        "distribution_instance_groups": training["distribution_instance_groups"],
        "is_hetero": training["is_hetero"],
        "module_name": training["module_name"],
        "log_level": training["log_level"],
        "framework_module": training["framework_module"],
        "input_dir": training["input_dir"],
        "input_config_dir": training["input_config_dir"],
        "output_dir": training["output_dir"],
        "num_cpus": training["num_cpus"],
        "num_gpus": training["num_gpus"],
        "num_neurons": training["num_neurons"],
        "model_dir": training["model_dir"],
        "module_dir": training["module_dir"],
        "training_env": dict(training),
        "user_args": cmd_args(user),
        "output_intermediate_dir": training["output_intermediate_dir"],
    }
    if training["topology"]:
        names["topology"] = training["topology"]
    names |= {f"channel_{name}": path for name, path in training["channel_input_dirs"].items()}
    names |= {f"hp_{key}": value for key, value in user.items()}
    return {f"SM_{str(key).upper()}": env_value(value) for key, value in names.items()}


def for_host(variables: Mapping[str, str], host: str, model_dir: Path | None = None) -> dict[str, str]:
    """The variables as a given host must see them: its own name, and a private model folder off the master.

    A script started on every host of an MPI job by the master's ``mpirun`` inherits the master's variables;
    this puts the host's own name back (``SM_CURRENT_HOST`` and inside ``SM_TRAINING_ENV``), and on worker
    hosts points ``SM_MODEL_DIR`` at ``model_dir`` so that only the master's model is kept.
    """
    training = json.loads(variables["SM_TRAINING_ENV"])
    training["current_host"] = host
    training["is_master"] = host == training["master_hostname"]
    if model_dir is not None and not training["is_master"]:
        training["model_dir"] = str(model_dir)
    updated = dict(variables)
    updated["SM_CURRENT_HOST"] = host
    updated["SM_MODEL_DIR"] = training["model_dir"]
    updated["SM_TRAINING_ENV"] = env_value(training)
    return updated
