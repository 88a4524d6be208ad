from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sm_contract.environment import ServingEnv, TrainingEnv, available_cpus, script_settings
from sm_contract.errors import ConfigurationError
from sm_contract.paths import MLPaths


def test_paths_follow_the_base_dir(tmp_path: Path) -> None:
    paths = MLPaths(tmp_path)
    assert paths.hyperparameters_file == tmp_path / "input/config/hyperparameters.json"
    assert paths.channel_dir("train") == tmp_path / "input/data/train"
    assert paths.failure_file == tmp_path / "output/failure"
    assert paths.output_data_dir == tmp_path / "output/data"
    assert paths.checkpoints_dir == tmp_path / "checkpoints"
    assert MLPaths().base == Path("/opt/ml")


def test_training_env_reads_config_files(fake_opt_ml) -> None:
    root = fake_opt_ml({"epochs": 2, "model": "cnn"}, {"train": {"a.npz": b"x"}}, hosts=("algo-2", "algo-1"))
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root), "TRAINING_JOB_NAME": "job-1"})
    assert env.hyperparameters == {"epochs": "2", "model": "cnn"}
    assert list(env.channels) == ["train"]
    assert env.channels["train"].path == root / "input/data/train"
    assert env.channels["train"].input_mode == "File"
    assert env.hosts == ("algo-1", "algo-2")  # sorted, as SageMaker documents
    assert env.current_host == "algo-2" and not env.is_master
    assert env.job_name == "job-1"


def test_training_env_without_config_files(tmp_path: Path) -> None:
    (tmp_path / "input/data/valid").mkdir(parents=True)
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert env.hyperparameters == {}
    assert list(env.channels) == ["valid"]  # folders stand in for a missing inputdataconfig.json
    assert env.is_master


def test_training_env_rejects_broken_json(tmp_path: Path) -> None:
    config = tmp_path / "input/config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"hyperparameters\.json is not valid JSON"):
        TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})


def test_serving_env_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    env = ServingEnv.from_environ({})
    assert env.port == 8080
    assert env.workers == available_cpus() == len(os.sched_getaffinity(0))
    assert (env.timeout_s, env.queue_size, env.limits.max_records) == (60, 64, 10_000)
    assert env.max_payload_bytes == 6 * 1024 * 1024
    assert env.model_dir == Path("/opt/ml/model")
    env = ServingEnv.from_environ(
        {"SAGEMAKER_BIND_TO_PORT": "9090", "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_BASE_DIR": "/x"}
    )
    assert (env.port, env.workers, env.model_dir) == (9090, 3, Path("/x/model"))


@pytest.mark.parametrize("value", ["abc", "0", "-1"])
def test_serving_env_rejects_bad_numbers(value: str) -> None:
    with pytest.raises(ConfigurationError, match="SAGEMAKER_BIND_TO_PORT"):
        ServingEnv.from_environ({"SAGEMAKER_BIND_TO_PORT": value})


def test_numbers_in_hand_written_hyperparameters_become_strings(tmp_path: Path) -> None:
    config = tmp_path / "input/config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({"epochs": 3, "flag": True}))
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert env.hyperparameters == {"epochs": "3", "flag": "true"}


def test_short_variable_names_and_limits() -> None:
    env = ServingEnv.from_environ(
        {
            "MODEL_SERVER_WORKERS": "3",
            "MODEL_SERVER_TIMEOUT": "5",
            "MODEL_SERVER_MAX_RECORDS": "7",
            "MODEL_SERVER_MAX_CHARS": "9",
            "MODEL_SERVER_QUEUE_SIZE": "2",
        }
    )
    assert (env.workers, env.timeout_s, env.queue_size) == (3, 5, 2)
    assert (env.limits.max_records, env.limits.max_chars) == (7, 9)
    assert ServingEnv.from_environ({"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "MODEL_SERVER_WORKERS": "3"}).workers == 2


def test_a_transform_container_admits_what_max_payload_in_mb_packs() -> None:
    """SageMaker packs as many records as fit in MaxPayloadInMB into one MultiRecord request and waits up to
    InvocationsTimeoutInSeconds (600 s by default): the endpoint caps would refuse 1 MB of short lines."""
    endpoint = ServingEnv.from_environ({})
    batch = ServingEnv.from_environ({"SAGEMAKER_BATCH": "True", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"})
    assert (endpoint.limits.max_records, endpoint.max_payload_bytes, endpoint.timeout_s) == (10_000, 6 << 20, 60)
    assert batch.max_payload_bytes == 20 << 20
    assert (batch.limits.max_records, batch.limits.max_chars) == (10 << 20, 20 << 20)
    assert batch.timeout_s == 600
    unset = ServingEnv.from_environ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"})  # streaming
    assert (unset.max_payload_bytes, unset.limits.max_records) == (6 << 20, 3 << 20)
    chosen = {"SAGEMAKER_BATCH": "true", "MODEL_SERVER_MAX_RECORDS": "50", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30"}
    assert (ServingEnv.from_environ(chosen).limits.max_records, ServingEnv.from_environ(chosen).timeout_s) == (50, 30)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000"}, 2),  # docker run --cpus 1.5
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_available_cpus_follows_the_cgroup_quota(tmp_path: Path, files: dict[str, str], expected: int | None) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content + "\n")
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == (min(expected, affinity) if expected else affinity)


@pytest.mark.parametrize(
    ("hyperparameters", "environ", "expected"),
    [
        ({}, {}, None),
        (
            {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/k/src.tar.gz"'},
            {},
            ("train.py", "s3://b/k/src.tar.gz"),
        ),
        (
            {"sagemaker_program": "chainer_mnist.py", "sagemaker_submit_directory": "s3://b/src.tar.gz"},
            {},
            ("chainer_mnist.py", "s3://b/src.tar.gz"),
        ),
        (
            {},
            {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/code"},
            ("serve.py", "/opt/ml/code"),
        ),
        ({"sagemaker_program": '"a.py"'}, {"SAGEMAKER_PROGRAM": "b.py"}, ("a.py", None)),
        ({"sagemaker_program": '""'}, {}, None),
    ],
)
def test_script_mode_settings_from_hyperparameters_or_environment(
    hyperparameters: dict[str, str], environ: dict[str, str], expected: tuple[str, str | None] | None
) -> None:
    settings = script_settings(hyperparameters, environ)
    assert (settings.program, settings.submit_directory) == expected if expected else settings is None
