"""An image described once: ``containers/<name>/image.toml``, read into frozen dataclasses.

Standard library only (``tomllib``), so that everything that needs to know an image can read its descriptor: the
pipelines, the conformance suite, the image venvs' tests and a one-line call from the Makefile::

    PYTHONPATH=pipelines/src python3 -m byoc_pipelines.descriptor names          # chainer-mnist keras-text
    PYTHONPATH=pipelines/src python3 -m byoc_pipelines.descriptor show keras-text  # the parsed descriptor as JSON
    PYTHONPATH=pipelines/src python3 -m byoc_pipelines.descriptor prepare byoc/chainer-mnist:latest   # data

Unknown keys are errors naming the file and the key, so a typo never passes silently. Paths in a descriptor are
relative to the repository (data sources) or to the descriptor's folder (sample bodies).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "image.toml"
OUTCOMES = ("batch-transform", "endpoint")  # what an image's workflow ends in
MULTI_HOST = ("none", "mpi", "multi-worker")  # how several hosts train: not at all, one MPI job, a process per host
LINE_SPLIT = ("text/csv", "application/jsonlines", "application/json-lines", "application/x-jsonlines")


class DescriptorError(ValueError):
    """A descriptor that cannot be read; the message names the file and the key."""


@dataclass(frozen=True)
class Channel:
    name: str
    source: Path | None  # a folder, relative to the repository; None: the suite makes an empty channel
    required: bool = True
    content_type: str | None = None


@dataclass(frozen=True)
class Answer:
    """The expected answer's shape: status, media type, and a JSON example or a line count."""

    status: int = 200
    content_type: str | None = None
    json: Any = None  # an example: the answer must have its structure (keys, item types), not its values
    lines: int | None = None  # a text answer's non-empty lines


@dataclass(frozen=True)
class Request:
    name: str
    content_type: str
    body: bytes
    accept: str | None = None
    custom_attributes: str | None = None  # X-Amzn-SageMaker-Custom-Attributes: a request whose answer depends on it
    answer: Answer = field(default_factory=Answer)


@dataclass(frozen=True)
class Training:
    hyperparameters: Mapping[str, str] = field(default_factory=dict)  # a smoke job: seconds, not minutes
    long: Mapping[str, str] = field(default_factory=dict)  # merged over those: still running when SIGTERM comes
    failing: Mapping[str, str] | None = None  # merged over those: a job the trainer must refuse
    failure_reason: str | None = None  # what the failure reason names within its first 1024 characters
    model_files: tuple[str, ...] = ()  # what a job leaves in /opt/ml/model
    # The smoke jobs' channels (name -> folder relative to the repository), when smaller data than the workflow's
    # keeps them to seconds; empty: every channel with its source.
    channels: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """A batch transform: the workflow's input, and one record the conformance suite repeats into MultiRecord
    batches."""

    record: Request | None = None
    max_payload_mb: int = 6  # MaxPayloadInMB of the job (the API's default is 6)
    input: Path | None = None  # the workflow's transform input folder, relative to the repository
    content_type: str | None = None
    split_type: str = "None"
    # The labels of the transform input (a .npy array or a text file, one per line): a local run scores the
    # transform's output lines against them. Relative to the repository.
    labels: Path | None = None


@dataclass(frozen=True)
class Workflow:
    """What the image's Step Functions definitions send: their hyperparameters and the Lambda variant."""

    hyperparameters: Mapping[str, str] = field(default_factory=dict)  # empty: the smoke job's
    create_model_lambda: bool = False  # also a definition that creates the model through the Lambda function


@dataclass(frozen=True)
class Descriptor:
    name: str
    path: Path  # the image.toml file
    summary: str = ""
    outcome: str = "endpoint"
    multi_host: str = "none"
    multi_model: bool = False
    data_prepare: str | None = None  # make target that writes the channels' folders
    data_prefix: str | None = None  # the channels' key prefix in the project's bucket
    channels: tuple[Channel, ...] = ()
    training: Training = field(default_factory=Training)
    requests: tuple[Request, ...] = ()
    serving_environment: Mapping[str, str] = field(default_factory=dict)
    batch: Batch = field(default_factory=Batch)
    workflow: Workflow = field(default_factory=Workflow)

    @property
    def workflow_hyperparameters(self) -> Mapping[str, str]:
        """The built-in trainer's settings a workflow execution sends unless told others."""
        return self.workflow.hyperparameters or self.training.hyperparameters

    @property
    def folder(self) -> Path:
        return self.path.parent

    def channel(self, name: str) -> Channel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)


class _Table:
    """One TOML table being read: typed getters, and a final check that no key was left unread."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data, self.where, self.read = data, where, set[str]()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.read.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise DescriptorError(f"{self.where}.{key}: expected {names}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, key: str, allowed: Sequence[str], default: str) -> str:
        value: str = self.get(key, str, default)
        if value not in allowed:
            raise DescriptorError(f"{self.where}.{key}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def table(self, key: str) -> _Table:
        return _Table(self.get(key, dict, {}), f"{self.where}.{key}")

    def strings(self, key: str) -> dict[str, str]:
        """A table of strings (hyperparameters, environment): every value a string, as SageMaker sends them."""
        values: dict[str, Any] = self.get(key, dict, {})
        for name, value in values.items():
            if not isinstance(value, str):
                raise DescriptorError(f'{self.where}.{key}.{name}: must be a string, as SageMaker sends it ("{value}")')
        return dict(values)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise DescriptorError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


def _body(table: _Table, folder: Path) -> bytes:
    text, file = table.get("body", str), table.get("body_file", str)
    if (text is None) == (file is None):
        raise DescriptorError(f"{table.where}: give exactly one of body and body_file")
    if text is not None:
        return str(text).encode("utf-8")
    path = folder / str(file)
    if not path.is_file():
        raise DescriptorError(f"{table.where}.body_file: {path} does not exist")
    return path.read_bytes()


def _answer(table: _Table) -> Answer:
    raw_json = table.get("json", str)
    try:
        example = json.loads(raw_json) if raw_json is not None else None
    except json.JSONDecodeError as exc:
        raise DescriptorError(f"{table.where}.json: not JSON: {exc}") from None
    answer = Answer(table.get("status", int, 200), table.get("content_type", str), example, table.get("lines", int))
    table.done()
    return answer


def _request(table: _Table, folder: Path, default_name: str) -> Request:
    content_type = table.get("content_type", str)
    if content_type is None:
        raise DescriptorError(f"{table.where}.content_type: required")
    request = Request(
        name=table.get("name", str, default_name),
        content_type=content_type,
        body=_body(table, folder),
        accept=table.get("accept", str),
        custom_attributes=table.get("custom_attributes", str),
        answer=_answer(table.table("answer")),
    )
    table.done()
    return request


def _channels(root: _Table) -> tuple[Channel, ...]:
    channels = []
    for name, raw in root.get("channels", dict, {}).items():
        table = _Table(raw, f"{root.where}channels.{name}")
        source = table.get("source", str)
        channels.append(
            Channel(
                name,
                Path(source) if source else None,
                table.get("required", bool, True),
                table.get("content_type", str),
            )
        )
        table.done()
    return tuple(channels)


def _training(table: _Table) -> Training:
    failing = table.strings("failing") if "failing" in table.data else None
    training = Training(
        hyperparameters=table.strings("hyperparameters"),
        long=table.strings("long"),
        failing=failing,
        failure_reason=table.get("failure_reason", str),
        model_files=tuple(table.get("model_files", list, [])),
        channels={name: Path(folder) for name, folder in table.strings("channels").items()},
    )
    table.done()
    return training


def _batch(table: _Table, folder: Path) -> Batch:
    record = table.table("record")
    source, labels = table.get("input", str), table.get("labels", str)
    batch = Batch(
        record=_request(record, folder, "one record") if record.data else None,
        max_payload_mb=table.get("max_payload_mb", int, 6),
        input=Path(source) if source else None,
        content_type=table.get("content_type", str),
        split_type=table.choice("split_type", ("None", "Line", "RecordIO", "TFRecord"), "None"),
        labels=Path(labels) if labels else None,
    )
    if batch.record is not None and batch.record.content_type not in LINE_SPLIT:
        raise DescriptorError(f"{table.where}.record.content_type: a line-split type ({', '.join(LINE_SPLIT)})")
    if not 1 <= batch.max_payload_mb <= 100:
        raise DescriptorError(f"{table.where}.max_payload_mb: MaxPayloadInMB is 1-100 (botocore)")
    table.done()
    return batch


def _workflow(table: _Table) -> Workflow:
    workflow = Workflow(table.strings("hyperparameters"), table.get("create_model_lambda", bool, False))
    table.done()
    return workflow


def load(path: Path) -> Descriptor:
    """Read and check one descriptor."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DescriptorError(f"{path}: {exc}") from None
    root = _Table(data, f"{path}: ")
    data_table, serving = root.table("data"), root.table("serving")
    name = root.get("name", str)
    if not name:
        raise DescriptorError(f"{path}: name is required")
    descriptor = Descriptor(
        name=name,
        path=path,
        summary=root.get("summary", str, ""),
        outcome=root.choice("outcome", OUTCOMES, "endpoint"),
        multi_host=root.choice("multi_host", MULTI_HOST, "none"),
        multi_model=root.get("multi_model", bool, False),
        data_prepare=data_table.get("prepare", str),
        data_prefix=data_table.get("s3_prefix", str),
        channels=_channels(root),
        training=_training(root.table("training")),
        requests=tuple(
            _request(_Table(raw, f"{serving.where}.requests[{i}]"), path.parent, f"request {i + 1}")
            for i, raw in enumerate(serving.get("requests", list, []))
        ),
        serving_environment=serving.strings("environment"),
        batch=_batch(root.table("batch"), path.parent),
        workflow=_workflow(root.table("workflow")),
    )
    for table in (data_table, serving, root):
        table.done()
    return descriptor


def containers_dir() -> Path:
    """The repository's ``containers/`` folder (this file is ``pipelines/src/byoc_pipelines/descriptor.py``)."""
    return Path(__file__).resolve().parents[3] / "containers"


def image_name(reference: str) -> str:
    """``registry:5000/byoc/chainer-mnist:tag`` or ``...@sha256:...`` -> ``chainer-mnist``."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def for_image(reference: str, containers: Path | None = None) -> Descriptor | None:
    """The descriptor of a local image reference, found by its name; None when no image folder has one."""
    path = (containers or containers_dir()) / image_name(reference) / FILE_NAME
    return load(path) if path.is_file() else None


def discover(containers: Path) -> list[Descriptor]:
    """Every ``<containers>/<name>/image.toml``, sorted by name."""
    return [load(path) for path in sorted(containers.glob(f"*/{FILE_NAME}"))]


def find(containers: Path, name: str) -> Descriptor:
    path = containers / name / FILE_NAME
    if not path.is_file():
        raise DescriptorError(f"no descriptor for image '{name}' at {path}")
    return load(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Path):
        return str(value)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``names``: the images' names on one line; ``show NAME``: one descriptor as JSON; ``prepare IMAGE``: the
    make target that prepares the data of a local image's descriptor (nothing when it has none)."""
    args = list(sys.argv[1:] if argv is None else argv)
    containers = containers_dir()
    try:
        if args == ["names"]:
            print(" ".join(d.name for d in discover(containers)))
            return 0
        if len(args) == 2 and args[0] == "prepare":
            found = for_image(args[1], containers)
            print(found.data_prepare if found and found.data_prepare else "")
            return 0
        if len(args) == 2 and args[0] == "show":
            shown = dataclasses.asdict(
                find(containers, args[1]), dict_factory=lambda kv: {k: _jsonable(v) for k, v in kv}
            )
            print(json.dumps(shown, indent=2, ensure_ascii=False, default=_jsonable))
            return 0
    except DescriptorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m byoc_pipelines.descriptor names | show NAME | prepare IMAGE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
