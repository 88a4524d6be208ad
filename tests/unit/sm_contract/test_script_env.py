"""The script's arguments and SM_* variables (formats; the toolkit itself is the oracle in tests/toolkit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sm_contract.environment import TrainingEnv
from sm_contract.script_mode import mpi, script_env
from utils.data import write_opt_ml


def test_arguments_are_sorted_with_one_dash_for_one_letter_keys() -> None:
    args = script_env.cmd_args({"lr": 0.1, "d": {"b": 2, "a": "x"}, "flag": True, "n": None, "batch-size": 32})
    assert args == ["--batch-size", "32", "-d", "a=x,b=2", "--flag", "True", "--lr", "0.1", "-n", ""]


def test_hyperparameters_are_decoded_and_framework_ones_set_apart() -> None:
    user, reserved = script_env.split_hyperparameters(
        {
            "epochs": "3",
            "name": '"abc"',
            "raw": "hello world",
            "sagemaker_program": '"t.py"',
            "sagemaker_mpi_enabled": "true",
        }
    )
    assert user == {"epochs": 3, "name": "abc", "raw": "hello world"}
    assert reserved == {"sagemaker_program": "t.py", "sagemaker_mpi_enabled": True}


def _env(tmp_path: Path, hosts: tuple[str, ...] = ("algo-1",), current: str | None = None) -> TrainingEnv:
    root = write_opt_ml(
        tmp_path / "opt_ml",
        {"sagemaker_program": "train.py", "epochs": "2", "sagemaker_mpi_enabled": "true"},
        {"train": {"a.npz": b"x"}, "valid": {"b.npz": b"y"}},
        hosts=hosts,
        current_host=current,
    )
    return TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root), "TRAINING_JOB_NAME": "job-7"})


def test_variables_describe_the_job(tmp_path: Path) -> None:
    env = _env(tmp_path, ("algo-1", "algo-2"), "algo-2")
    variables = script_env.env_vars(script_env.training_env(env, num_cpus=4, num_gpus=0))
    root = env.paths.base
    assert variables["SM_CHANNEL_TRAIN"] == str(root / "input/data/train")
    assert variables["SM_CHANNELS"] == '["train","valid"]'
    assert variables["SM_HPS"] == '{"epochs":2}' and variables["SM_HP_EPOCHS"] == "2"
    assert variables["SM_HOSTS"] == '["algo-1","algo-2"]' and variables["SM_CURRENT_HOST"] == "algo-2"
    assert variables["SM_MODULE_NAME"] == "train" and variables["SM_USER_ENTRY_POINT"] == "train.py"
    assert variables["SM_FRAMEWORK_PARAMS"] == '{"sagemaker_mpi_enabled":true}'
    assert variables["SM_USER_ARGS"] == '["--epochs","2"]' and variables["SM_NUM_CPUS"] == "4"
    training = json.loads(variables["SM_TRAINING_ENV"])
    assert (training["job_name"], training["master_hostname"], training["is_master"]) == ("job-7", "algo-1", False)
    assert training["distribution_hosts"] == ["algo-1", "algo-2"]


def test_each_host_gets_its_own_name_and_workers_a_private_model_folder(tmp_path: Path) -> None:
    env = _env(tmp_path, ("algo-1", "algo-2"))
    master = script_env.env_vars(script_env.training_env(env, num_cpus=1, num_gpus=0))
    worker = script_env.for_host(master, "algo-2", tmp_path / "scratch")
    assert (worker["SM_CURRENT_HOST"], worker["SM_MODEL_DIR"]) == ("algo-2", str(tmp_path / "scratch"))
    assert json.loads(worker["SM_TRAINING_ENV"])["current_host"] == "algo-2"
    same = script_env.for_host(master, "algo-1", tmp_path / "scratch")
    assert same["SM_MODEL_DIR"] == str(env.paths.model_dir)


def test_mpirun_line(tmp_path: Path) -> None:
    settings = mpi.MpiSettings.from_hyperparameters(
        {"sagemaker_mpi_num_of_processes_per_host": 2, "sagemaker_mpi_custom_mpi_options": "-x FOO --bind-to none"},
        default=True,
    )
    command = mpi.mpirun_command(
        ["algo-1", "algo-2"],
        settings,
        "eth1",
        {"SM_HOSTS": "[]", "HOSTNAME": "x", "PATH": "/bin"},
        ["python", "t.py"],
        tmp_path,
    )
    text = " ".join(command)
    assert "--host algo-1:2,algo-2:2 -np 4" in text
    assert "btl_tcp_if_include eth1" in text and "oob_tcp_if_include eth1" in text
    assert "-x PATH -x SM_HOSTS -x FOO --bind-to none" in text and "-x HOSTNAME" not in text
    assert command[-7:] == ["-m", "sm_contract.script_mode.rank", "--", "python", "-m", "mpi4py", "t.py"]
    assert mpi.abort_on_failure(["/bin/sh", "-c", "./run.sh"]) == ["/bin/sh", "-c", "./run.sh"]


@pytest.mark.parametrize(
    ("settings", "default", "enabled"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"sagemaker_use_mpi": "false"}, True, False),
        ({"sagemaker_mpi_enabled": True}, False, True),
    ],
)
def test_mpi_switches(settings: dict[str, object], default: bool, enabled: bool) -> None:
    assert mpi.MpiSettings.from_hyperparameters(settings, default=default).enabled is enabled


def test_channel_folders_stand_in_for_a_missing_inputdataconfig(tmp_path: Path) -> None:
    root = write_opt_ml(tmp_path / "opt_ml", {}, {"train": {"a.npz": b"x"}})
    (root / "input/config/inputdataconfig.json").unlink()
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    variables = script_env.env_vars(script_env.training_env(env, num_cpus=1, num_gpus=0))
    assert variables["SM_CHANNEL_TRAIN"] == str(root / "input/data/train")
