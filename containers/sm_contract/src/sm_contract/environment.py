"""The only module that reads SageMaker's inputs: environment variables and /opt/ml/input/config/*.json."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm_contract.errors import ConfigurationError
from sm_contract.paths import DEFAULT_BASE_DIR, MLPaths

BASE_DIR_VAR = "SAGEMAKER_BASE_DIR"  # toolkit convention; SageMaker never sets it, tests do
PORT_VAR = "SAGEMAKER_BIND_TO_PORT"
WORKERS_VAR = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT_VAR = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
LOG_LEVEL_VAR = "SAGEMAKER_CONTAINER_LOG_LEVEL"

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_S = 60  # InvokeEndpoint answers within 60 s
# InvokeEndpoint and batch transform's default MaxPayloadInMB: 6 MB (botocore BodyBlob max 6,291,456 bytes).
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
DEFAULT_LOG_LEVEL = "INFO"


def _paths(environ: Mapping[str, str]) -> MLPaths:
    return MLPaths(Path(environ.get(BASE_DIR_VAR) or DEFAULT_BASE_DIR))


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path.name} is not valid JSON: {exc}") from exc


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class ChannelConfig:
    """One entry of inputdataconfig.json."""

    name: str
    path: Path
    content_type: str | None = None
    input_mode: str = "File"


@dataclass(frozen=True)
class TrainingEnv:
    """What a training container is told: hyperparameters (raw strings), channels and hosts."""

    paths: MLPaths
    hyperparameters: Mapping[str, str]
    channels: Mapping[str, ChannelConfig]
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    network_interface_name: str = "eth0"
    job_name: str = "local"
    log_level: str = DEFAULT_LOG_LEVEL
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_master(self) -> bool:
        """Only the first host writes the model (all hosts' model dirs are merged)."""
        return self.current_host == self.hosts[0]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TrainingEnv:
        env = dict(os.environ if environ is None else environ)
        paths = _paths(env)
        raw_hps = _read_json(paths.hyperparameters_file, {})
        if not isinstance(raw_hps, dict):
            raise ConfigurationError("hyperparameters.json must hold a JSON object")
        # The API type is map<string,string>; hand-written files may hold numbers, so normalise to str.
        hyperparameters = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_hps.items()}
        data_config = _read_json(paths.input_data_config_file, None)
        channels = _channels(paths, data_config)
        resources = _read_json(paths.resource_config_file, {})
        hosts = tuple(resources.get("hosts") or ("algo-1",))
        return cls(
            paths=paths,
            hyperparameters=hyperparameters,
            channels=channels,
            current_host=str(resources.get("current_host", hosts[0])),
            hosts=tuple(sorted(hosts)),
            network_interface_name=str(resources.get("network_interface_name", "eth0")),
            job_name=env.get("TRAINING_JOB_NAME", "local"),
            log_level=env.get(LOG_LEVEL_VAR, DEFAULT_LOG_LEVEL),
            environ=env,
        )


def _channels(paths: MLPaths, data_config: Any) -> dict[str, ChannelConfig]:
    """Channels from inputdataconfig.json, or the folders under input/data when it is absent."""
    if data_config is None:
        if not paths.data_dir.is_dir():
            return {}
        return {p.name: ChannelConfig(p.name, p) for p in sorted(paths.data_dir.iterdir()) if p.is_dir()}
    if not isinstance(data_config, dict):
        raise ConfigurationError("inputdataconfig.json must hold a JSON object")
    return {
        name: ChannelConfig(
            name=name,
            path=paths.channel_dir(name),
            content_type=(spec or {}).get("ContentType"),
            input_mode=(spec or {}).get("TrainingInputMode", "File"),
        )
        for name, spec in data_config.items()
    }


@dataclass(frozen=True)
class ServingEnv:
    """Settings of the model server, from SAGEMAKER_* variables with named defaults."""

    paths: MLPaths
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_s: int = DEFAULT_TIMEOUT_S
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    log_level: str = DEFAULT_LOG_LEVEL

    @property
    def model_dir(self) -> Path:
        return self.paths.model_dir

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServingEnv:
        env = os.environ if environ is None else environ
        return cls(
            paths=_paths(env),
            port=_positive_int(env, PORT_VAR, DEFAULT_PORT),
            workers=_positive_int(env, WORKERS_VAR, os.cpu_count() or 1),
            timeout_s=_positive_int(env, TIMEOUT_VAR, DEFAULT_TIMEOUT_S),
            log_level=env.get(LOG_LEVEL_VAR, DEFAULT_LOG_LEVEL),
        )
