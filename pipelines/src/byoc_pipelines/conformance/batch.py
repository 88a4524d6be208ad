"""Batch transform: the container started with the job's variables, /execution-parameters, a MultiRecord batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from byoc_pipelines.conformance.context import BATCH_INVOKE_S, Context
from byoc_pipelines.conformance.inputs import multi_record
from byoc_pipelines.conformance.ports import server
from byoc_pipelines.conformance.serving import headers_of
from byoc_pipelines.conformance.wire import Endpoint
from byoc_pipelines.local.job_files import Mount

IDS = ("B.environment", "B.execution-parameters", "B.multi-record")
STRATEGIES = ("MultiRecord", "SingleRecord")  # botocore's BatchStrategy enum
CONCURRENT_TRANSFORMS = 1
MAX_MB_IN_FLIGHT = 100  # MaxConcurrentTransforms x MaxPayloadInMB (API reference CreateTransformJob, MaxPayloadInMB)


def environment(payload_mb: int) -> dict[str, str]:
    """What a transform job that sets MultiRecord and MaxPayloadInMB puts in the container's environment."""
    return {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(payload_mb),
        "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(CONCURRENT_TRANSFORMS),
    }


def parameters_problem(value: Any) -> str | None:
    """None when /execution-parameters has the API's shape: the three keys, the enum's casing, numbers in range."""
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    expected = {"MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"}
    if set(value) != expected:
        return f"keys {sorted(value)}, expected {sorted(expected)}"
    strategy = value["BatchStrategy"]
    if strategy not in STRATEGIES:
        hint = " (the API's enum is MultiRecord / SingleRecord; SDK local mode refuses other spellings)"
        return f"BatchStrategy {strategy!r}{hint}"
    concurrent, payload = value["MaxConcurrentTransforms"], value["MaxPayloadInMB"]
    if not isinstance(concurrent, int) or isinstance(concurrent, bool) or concurrent < 0:
        return f"MaxConcurrentTransforms {concurrent!r} is not a non-negative integer"
    if not isinstance(payload, int) or isinstance(payload, bool) or not 0 <= payload <= 100:
        return f"MaxPayloadInMB {payload!r} is not an integer in 0-100"
    if concurrent * payload > MAX_MB_IN_FLIGHT:
        return (
            f"MaxConcurrentTransforms {concurrent} x MaxPayloadInMB {payload} = {concurrent * payload} MB in flight"
            f" (CreateTransformJob allows {MAX_MB_IN_FLIGHT})"
        )
    return None


def run(ctx: Context, model: Path) -> None:
    payload_mb = ctx.inputs.max_payload_mb
    env = {**ctx.inputs.serving_environment, **environment(payload_mb)}
    with server(ctx, "batch", mounts=[Mount(model, "/opt/ml/model")], environment=env) as (box, ready):
        shown = ", ".join(f"{k}={v}" for k, v in environment(payload_mb).items())
        if ready.seconds is None:
            if ready.wrong_port is not None:
                ctx.rec.skip_rest(IDS, f"blocked by S1.port: {ready.reason}")
                return
            ctx.rec.failed("B.environment", shown, ready.reason)
            ctx.rec.skip_rest(IDS, "the batch container is not ready")
            return
        ctx.rec.passed("B.environment", f"/ping 200 {ready.seconds:.2f} s after start", shown)
        endpoint = box.endpoint()
        _execution_parameters(ctx, endpoint)
        _multi_record(ctx, endpoint, payload_mb)


def _execution_parameters(ctx: Context, endpoint: Endpoint) -> None:
    reply = endpoint.get("/execution-parameters")
    if reply.status in (404, 405):
        ctx.rec.skipped("B.execution-parameters", f"not offered ({reply.status}): the endpoint is optional")
        return
    try:
        value = json.loads(reply.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        ctx.rec.failed("B.execution-parameters", reply.describe(), f"not JSON: {reply.body[:100]!r}")
        return
    problem = parameters_problem(value) if reply.status == 200 else f"status {reply.status}"
    ctx.rec.verdict("B.execution-parameters", problem is None, json.dumps(value), problem or "")


def _multi_record(ctx: Context, endpoint: Endpoint, payload_mb: int) -> None:
    record = ctx.inputs.record
    body, count = multi_record(record, payload_mb)
    reply = endpoint.post("/invocations", body, headers_of(record), BATCH_INVOKE_S)
    measured = f"{count:,} records, {len(body):,} bytes: {reply.describe()}"
    if ctx.inputs.generic and reply.status is not None and 400 <= reply.status < 500:
        ctx.rec.skipped(
            "B.multi-record", f"the generic record was refused ({measured}); give a batch record in a descriptor"
        )
        return
    if reply.status is None or not 200 <= reply.status < 300:
        ctx.rec.failed("B.multi-record", measured, f"answer: {reply.body[:200]!r}")
        return
    per_record = record.answer.lines
    lines = sum(1 for line in reply.body.splitlines() if line.strip())
    if per_record is not None and lines != per_record * count:
        ctx.rec.failed("B.multi-record", measured, f"{lines:,} answer lines for {count:,} records")
        return
    ctx.rec.passed("B.multi-record", measured, f"{lines:,} answer lines", reply.seconds)
