"""What the checks feed the image: from its descriptor and the options, or made up when neither says.

Without a descriptor the suite trains with an empty ``train`` channel, tries a failing job with no channel and an
unknown hyperparameter, and sends generic JSON and CSV bodies; checks whose outcome such inputs cannot prove are
skipped with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from byoc_pipelines.descriptor import Answer, Descriptor, Request

MIB = 1024 * 1024
GENERIC_REQUESTS = (
    Request("generic JSON", "application/json", b'{"instances": [[0.0, 0.0, 0.0, 0.0]]}\n', accept="application/json"),
    Request("generic CSV", "text/csv", b"0.0,0.0,0.0,0.0\n", accept="text/csv"),
)
GENERIC_RECORD = Request("generic CSV record", "text/csv", b"0.0,0.0,0.0,0.0\n", accept="text/csv")
UNKNOWN_HYPERPARAMETER = "conformance-unknown-hyperparameter"
MALFORMED = {  # by media type: a body no parser of that type accepts
    "application/json": b'{"instances": [[0.0, ',
    "application/jsonlines": b'{"q": \n{{\n',
    "text/csv": b'"unterminated,\xff\xfe\n',
}
MALFORMED_OTHER = b"\xff\xfe\x00conformance: not a valid body\x00"


@dataclass(frozen=True)
class Inputs:
    descriptor: Descriptor | None
    channels: Mapping[str, Path | None]  # channel -> host folder (None: empty)
    hyperparameters: Mapping[str, str]
    long_hyperparameters: Mapping[str, str]
    failing_channels: Mapping[str, Path | None]
    failing_hyperparameters: Mapping[str, str]
    failure_reason: str | None
    model_files: tuple[str, ...]
    requests: tuple[Request, ...]  # S3, S4.headers, S6, V: plain sample requests
    attribute_requests: tuple[Request, ...]  # S4.custom-attributes: requests whose answer depends on the header
    record: Request  # B.multi-record: one line
    max_payload_mb: int
    serving_environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def generic(self) -> bool:
        return self.descriptor is None

    @property
    def sample(self) -> Request:
        return self.requests[0]


def from_options(
    descriptor: Descriptor | None,
    channels: Mapping[str, Path] | None = None,
    hyperparameters: Mapping[str, str] | None = None,
) -> Inputs:
    """The inputs of a run: the descriptor's, overridden by ``--channel`` and ``--hyperparameter``."""
    given_channels = dict(channels or {})
    given_hps = dict(hyperparameters or {})
    if descriptor is None:
        return _generic(given_channels, given_hps)
    root = descriptor.path.parents[2]  # containers/<name>/image.toml -> the repository
    training = descriptor.training
    sources: dict[str, Path | None] = {c.name: (root / c.source if c.source else None) for c in descriptor.channels}
    if training.channels:  # the smoke jobs' own, smaller data
        sources = {name: root / folder for name, folder in training.channels.items()}
    sources.update(given_channels)
    smoke = {**training.hyperparameters, **given_hps}
    plain = tuple(r for r in descriptor.requests if r.custom_attributes is None)
    return Inputs(
        descriptor=descriptor,
        channels=sources,
        hyperparameters=smoke,
        long_hyperparameters={**smoke, **training.long},
        failing_channels=sources,
        failing_hyperparameters={**smoke, **(training.failing or {UNKNOWN_HYPERPARAMETER: "1"})},
        failure_reason=training.failure_reason,
        model_files=training.model_files,
        requests=plain or GENERIC_REQUESTS,
        attribute_requests=tuple(r for r in descriptor.requests if r.custom_attributes is not None),
        record=descriptor.batch.record or GENERIC_RECORD,
        max_payload_mb=descriptor.batch.max_payload_mb,
        serving_environment=descriptor.serving_environment,
    )


def _generic(channels: Mapping[str, Path], hyperparameters: Mapping[str, str]) -> Inputs:
    """An empty ``train`` channel unless given; a failing job with no channel and an unknown hyperparameter."""
    return Inputs(
        descriptor=None,
        channels={"train": None, **channels},
        hyperparameters=hyperparameters,
        long_hyperparameters=hyperparameters,
        failing_channels={},
        failing_hyperparameters={**hyperparameters, UNKNOWN_HYPERPARAMETER: "1"},
        failure_reason=None,
        model_files=(),
        requests=GENERIC_REQUESTS,
        attribute_requests=(),
        record=GENERIC_RECORD,
        max_payload_mb=6,
    )


def malformed_body(content_type: str) -> bytes:
    return MALFORMED.get(content_type, MALFORMED_OTHER)


def padded(request: Request, size: int) -> bytes:
    """A body of exactly ``size`` bytes made from a sample: its lines repeated for line types, else whitespace
    after it (still valid JSON); a server may refuse it, but must answer."""
    body = request.body
    if request.content_type in ("text/csv", "application/jsonlines") and body.endswith(b"\n"):
        body = body * max(1, (size - len(body)) // len(body))
    body = body[:size]
    return body + b" " * (size - len(body))


def multi_record(record: Request, payload_mb: int) -> tuple[bytes, int]:
    """As many copies of a one-line record as fit in ``payload_mb`` MiB (how MultiRecord packs a mini-batch)."""
    line = record.body if record.body.endswith(b"\n") else record.body + b"\n"
    count = max(1, payload_mb * MIB // len(line))
    return line * count, count


def shape_mismatch(example: object, value: object, where: str = "answer") -> str | None:
    """None when ``value`` has the structure of ``example`` (same keys, item shapes, JSON types), else why not."""
    if isinstance(example, dict):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {type(value).__name__}"
        for key, sub in example.items():
            if key not in value:
                return f"{where}: key {key!r} missing (has {', '.join(map(str, value)) or 'none'})"
            why = shape_mismatch(sub, value[key], f"{where}.{key}")
            if why:
                return why
        return None
    if isinstance(example, list):
        if not isinstance(value, list) or not value:
            return f"{where}: expected a non-empty list, got {json.dumps(value)[:60]}"
        for item in value if example else ():
            why = shape_mismatch(example[0], item, f"{where}[]")
            if why:
                return why
        return None
    if isinstance(example, bool) or example is None:
        return None if type(value) is type(example) else f"{where}: expected {json.dumps(example)}, got {value!r}"
    if isinstance(example, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"{where}: expected a number, got {json.dumps(value)[:40]}"
    return None if isinstance(value, str) else f"{where}: expected a string, got {json.dumps(value)[:40]}"


def answer_mismatch(expected: Answer, status: int | None, media_type: str, body: bytes) -> str | None:
    """None when an answer matches the expectation (status, media type, JSON shape or line count), else why not."""
    if status != expected.status:
        return f"status {status}, expected {expected.status}"
    if expected.content_type and media_type != expected.content_type:
        return f"Content-Type {media_type or 'none'}, expected {expected.content_type}"
    if expected.json is not None:
        try:
            value = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return f"answer is not JSON: {exc}"
        return shape_mismatch(expected.json, value)
    if expected.lines is not None:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) != expected.lines:
            return f"{len(lines)} answer lines, expected {expected.lines}"
    return None
