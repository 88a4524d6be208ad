"""The only module that reads SageMaker's inputs: environment variables and /opt/ml/input/config/*.json."""

from __future__ import annotations

import json
import math
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
PROGRAM_PARAM = "sagemaker_program"  # SAGEMAKER_PROGRAM in the environment (a model's CreateModel Environment)
SUBMIT_DIR_PARAM = "sagemaker_submit_directory"

DEFAULT_PORT = 8080
SAFE_PORT_RANGE_VAR = "SAGEMAKER_SAFE_PORT_RANGE"  # extra ports a container may open (inference pipelines)
DEFAULT_REST_PORT = 8501
DEFAULT_TIMEOUT_S = 60  # InvokeEndpoint answers within 60 s
# InvokeEndpoint and batch transform's default MaxPayloadInMB: 6 MB (botocore BodyBlob max 6,291,456 bytes).
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
DEFAULT_LOG_LEVEL = "INFO"
# The scikit sample's short names, read after the SAGEMAKER_ ones.
SHORT_WORKERS_VAR = "MODEL_SERVER_WORKERS"
SHORT_TIMEOUT_VAR = "MODEL_SERVER_TIMEOUT"
# This project's serving limits (per worker, per request).
QUEUE_VAR = "MODEL_SERVER_QUEUE_SIZE"
MAX_PAYLOAD_VAR = "MODEL_SERVER_MAX_PAYLOAD_BYTES"
MAX_RECORDS_VAR = "MODEL_SERVER_MAX_RECORDS"
MAX_CHARS_VAR = "MODEL_SERVER_MAX_CHARS"
DEFAULT_QUEUE_SIZE = 64  # requests waiting for a worker's model; more are answered 503
DEFAULT_MAX_RECORDS = 10_000
DEFAULT_MAX_CHARS = 1_000_000
# Batch transform (DG your-algorithms-batch-code): SAGEMAKER_BATCH is "true" in every transform container;
# SAGEMAKER_MAX_PAYLOAD_IN_MB is the job's MaxPayloadInMB when it sets one (0: streaming, which is not offered).
BATCH_VAR = "SAGEMAKER_BATCH"
BATCH_PAYLOAD_VAR = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH_TIMEOUT_S = 600  # ModelClientConfig.InvocationsTimeoutInSeconds' default (botocore): a batch waits this long


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
class ScriptSettings:
    """Script mode: the user's entry point and where its code comes from (``sagemaker_*`` or ``SAGEMAKER_*``)."""

    program: str
    submit_directory: str | None = None


def _decoded(raw: str | None) -> str | None:
    """A value that may be JSON-encoded (the SDK sends ``"\\"train.py\\""``) or raw (``train.py``)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        return raw.strip()
    return str(value).strip() if isinstance(value, str | int | float) and str(value).strip() else None


def script_settings(settings: Mapping[str, str], environ: Mapping[str, str]) -> ScriptSettings | None:
    """Script mode when ``sagemaker_program`` (hyperparameter) or ``SAGEMAKER_PROGRAM`` (environment) is set."""
    program = _decoded(settings.get(PROGRAM_PARAM)) or _decoded(environ.get(PROGRAM_PARAM.upper()))
    if program is None:
        return None
    directory = _decoded(settings.get(SUBMIT_DIR_PARAM)) or _decoded(environ.get(SUBMIT_DIR_PARAM.upper()))
    return ScriptSettings(program, directory)


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
    resource_config: Mapping[str, Any] = field(default_factory=dict, repr=False)
    input_data_config: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_master(self) -> bool:
        """Only the first host writes the model (all hosts' model dirs are merged)."""
        return self.current_host == self.hosts[0]

    @property
    def host_rank(self) -> int:
        return self.hosts.index(self.current_host) if self.current_host in self.hosts else 0

    @property
    def script(self) -> ScriptSettings | None:
        return script_settings(self.hyperparameters, self.environ)

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
        if not isinstance(resources, dict):
            raise ConfigurationError("resourceconfig.json must hold a JSON object")
        hosts = tuple(str(h) for h in resources.get("hosts") or ("algo-1",))
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
            resource_config=resources,
            input_data_config=data_config if isinstance(data_config, dict) else {},
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


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity, lowered by a cgroup CPU quota (``docker run --cpus``)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota(root: Path) -> float | None:
    """cgroup v2 ``cpu.max`` (``"200000 100000"`` = 2 CPUs, ``"max ..."`` = none) or v1 quota / period."""
    try:
        fields = (root / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class RequestLimits:
    """Per-request work caps: beyond them a request is answered 413 naming the cap (see the image READMEs)."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_records: int = DEFAULT_MAX_RECORDS  # texts, images, CSV or JSON lines
    max_chars: int = DEFAULT_MAX_CHARS  # characters of text, all records together


def is_batch(environ: Mapping[str, str]) -> bool:
    return environ.get(BATCH_VAR, "").strip().lower() == "true"  # SDK local mode sends "True"


def request_limits(environ: Mapping[str, str]) -> RequestLimits:
    """The caps per request. In a transform container SageMaker packs as many records as fit in MaxPayloadInMB
    into one request, so there the caps default to what such a request may hold (a record is at least one byte
    and its newline) and never refuse a batch the job was set up to send; explicit MODEL_SERVER_* values win."""
    batch = is_batch(environ)
    payload = DEFAULT_MAX_PAYLOAD_BYTES
    raw_mb = environ.get(BATCH_PAYLOAD_VAR, "").strip()
    if batch and raw_mb.isdigit():
        payload = max(payload, int(raw_mb) * 1024 * 1024)
    payload = _positive_int(environ, MAX_PAYLOAD_VAR, payload)
    records, chars = DEFAULT_MAX_RECORDS, DEFAULT_MAX_CHARS
    if batch:
        records, chars = max(records, payload // 2), max(chars, payload)
    return RequestLimits(
        max_payload_bytes=payload,
        max_records=_positive_int(environ, MAX_RECORDS_VAR, records),
        max_chars=_positive_int(environ, MAX_CHARS_VAR, chars),
    )


@dataclass(frozen=True)
class ServingEnv:
    """Settings of the model server, from SAGEMAKER_* (and MODEL_SERVER_*) variables with named defaults."""

    paths: MLPaths
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_s: int = DEFAULT_TIMEOUT_S
    queue_size: int = DEFAULT_QUEUE_SIZE
    limits: RequestLimits = field(default_factory=RequestLimits)
    cpus: int = 1
    log_level: str = DEFAULT_LOG_LEVEL
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    # In a multi-model container, the ``model_name`` SageMaker loaded this model under (``POST /models``, whose
    # ``url`` is then ``model_dir``); None for the container's one model.
    model_name: str | None = None

    @property
    def model_dir(self) -> Path:
        return self.paths.model_dir

    @property
    def max_payload_bytes(self) -> int:
        return self.limits.max_payload_bytes

    @property
    def threads_per_worker(self) -> int:
        """Math-library threads of one worker: the workers share the container's CPUs."""
        return max(1, self.cpus // self.workers)

    @property
    def script(self) -> ScriptSettings | None:
        """A user module to serve (``SAGEMAKER_PROGRAM`` on the model), or ``None`` for the image's own model."""
        return script_settings({}, self.environ)

    @property
    def rest_port(self) -> int:
        """A second port for an image that also offers a model server's own API (TF Serving's REST API): the
        second of ``SAGEMAKER_SAFE_PORT_RANGE`` when SageMaker gives one, else TF Serving's 8501."""
        raw = self.environ.get(SAFE_PORT_RANGE_VAR, "").strip()
        if not raw:
            return DEFAULT_REST_PORT
        try:
            low, high = (int(part) for part in raw.split("-", 1))
        except ValueError:
            raise ConfigurationError(f"{SAFE_PORT_RANGE_VAR}={raw!r} is not a range like 20000-20999") from None
        if not low < high:
            raise ConfigurationError(f"{SAFE_PORT_RANGE_VAR}={raw!r} holds fewer than two ports")
        return low + 1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServingEnv:
        env = dict(os.environ if environ is None else environ)
        cpus = available_cpus()
        limits = request_limits(env)
        timeout_default = BATCH_TIMEOUT_S if is_batch(env) else DEFAULT_TIMEOUT_S
        return cls(
            paths=_paths(env),
            port=_positive_int(env, PORT_VAR, DEFAULT_PORT),
            workers=_positive_int(env, WORKERS_VAR, _positive_int(env, SHORT_WORKERS_VAR, cpus)),
            timeout_s=_positive_int(env, TIMEOUT_VAR, _positive_int(env, SHORT_TIMEOUT_VAR, timeout_default)),
            queue_size=_positive_int(env, QUEUE_VAR, DEFAULT_QUEUE_SIZE),
            limits=limits,
            cpus=cpus,
            log_level=env.get(LOG_LEVEL_VAR, DEFAULT_LOG_LEVEL),
            environ=env,
        )


# Multi-model endpoints. SageMaker sets SAGEMAKER_MULTI_MODEL=true in a container of a model with Mode MultiModel
# (AWS's TF Serving and inference-toolkit containers switch on it; the DG does not list it, so the layout counts
# too: models under /opt/ml/models and none in /opt/ml/model). The budget is ours.
MULTI_MODEL_VAR = "SAGEMAKER_MULTI_MODEL"
MODELS_MEMORY_VAR = "MODEL_SERVER_MODELS_MEMORY_BYTES"


@dataclass(frozen=True)
class MultiModelSettings:
    """Whether the container serves many models (the /models API), and the bytes of models it may hold."""

    enabled: bool
    memory_bytes: int


def multi_model_settings(environ: Mapping[str, str], cgroup_root: Path = Path("/sys/fs/cgroup")) -> MultiModelSettings:
    """From the environment and /opt/ml; without a budget, half the memory the container may use."""
    paths = _paths(environ)
    laid_out = (paths.base / "models").is_dir() and not (paths.model_dir.is_dir() and any(paths.model_dir.iterdir()))
    enabled = environ.get(MULTI_MODEL_VAR, "").strip().lower() == "true" or laid_out
    return MultiModelSettings(enabled, _positive_int(environ, MODELS_MEMORY_VAR, _memory_limit(cgroup_root) // 2))


def _memory_limit(root: Path) -> int:
    """cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``, else the machine's RAM (``/proc/meminfo``)."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:  # v1 writes a huge number for "no limit"
            return int(raw)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 30
