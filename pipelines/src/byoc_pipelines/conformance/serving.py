"""S1-S6 on one serving container: ``docker run IMAGE serve`` with the model mounted read-only at /opt/ml/model."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from byoc_pipelines.conformance.context import (
    ACCEPT_S,
    INVOKE_S,
    MAX_BODY,
    PING_READY_S,
    PING_S,
    SERVE_STOP_S,
    Context,
    stop_within,
)
from byoc_pipelines.conformance.inputs import answer_mismatch, malformed_body, padded
from byoc_pipelines.conformance.ports import Ready, listeners_text, server
from byoc_pipelines.conformance.sandbox import Box
from byoc_pipelines.conformance.wire import Endpoint, Reply
from byoc_pipelines.descriptor import Request
from byoc_pipelines.local.job_files import Mount

IDS = (
    "S1.port", "S1.sigterm", "S2.ready", "S2.latency", "S2.busy", "S3.accept", "S3.invocations", "S4.headers",
    "S4.custom-attributes", "S5.max-body", "S5.over-limit", "S6.content-type", "S6.accept", "S6.malformed", "S6.empty",
)  # fmt: skip
UNKNOWN_TYPE = "application/x-conformance-unknown"
PINGS = 10
BUSY_CLIENTS = 4  # concurrent invocations while /ping is timed: more than the workers of a small instance
BUSY_MIN_S = 2.0
OVER_LIMIT = MAX_BODY + 1024 * 1024
# Forwarded by InvokeEndpoint or added by SageMaker's front end (custom attributes have a check of their own).
SAGEMAKER_HEADERS = {
    "X-Amzn-SageMaker-Target-Variant": "AllTraffic",
    "X-Amzn-SageMaker-Inference-Id": "conformance-inference-id",
    "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
    "X-Forwarded-For": "10.0.0.1",
    "X-Forwarded-Proto": "https",
    "X-Conformance-Unknown": "an unknown header",
}


def headers_of(request: Request, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    found = {"Content-Type": request.content_type, **({"Accept": request.accept} if request.accept else {})}
    if request.custom_attributes:
        found["X-Amzn-SageMaker-Custom-Attributes"] = request.custom_attributes
    return {**found, **(extra or {})}


def invoke(endpoint: Endpoint, request: Request, extra: Mapping[str, str] | None = None) -> Reply:
    return endpoint.post("/invocations", request.body, headers_of(request, extra), INVOKE_S)


def serve(ctx: Context, model: Path) -> None:
    """Start the shared server, run every check that needs no container of its own, then stop it (S1.sigterm)."""
    mounts = [Mount(model, "/opt/ml/model")]
    with server(ctx, "serve", mounts=mounts, environment=ctx.inputs.serving_environment) as (box, ready):
        _port_and_ready(ctx, box, ready)
        if ready.seconds is not None:
            endpoint = box.endpoint()
            for check in (_latency, _invocations, _headers, _custom_attributes, _client_errors, _bodies, _busy):
                check(ctx, endpoint)
        else:
            ctx.rec.skip_rest([i for i in IDS if i != "S1.sigterm"], f"the server is not ready: {ready.reason}")
        _sigterm(ctx, box)


def _port_and_ready(ctx: Context, box: Box, ready: Ready) -> None:
    if ready.seconds is not None:
        try:
            detail = f"listens on {listeners_text(box.listeners())}"
        except OSError:
            detail = ""
        ctx.rec.passed("S1.port", f"/ping 200 on {box.ip}:8080", detail)
        ctx.rec.passed("S2.ready", f"{ready.seconds:.2f} s after start", seconds=ready.seconds)
    elif ready.wrong_port is not None:
        ctx.rec.failed("S1.port", f"port {ready.wrong_port}", ready.reason)
        ctx.rec.skipped("S2.ready", f"blocked by S1.port: {ready.reason}")
    elif ready.exit_code is not None:
        ctx.rec.skipped("S1.port", "the server exited before it listened")
        ctx.rec.failed("S2.ready", f"exit {ready.exit_code}", ready.reason)
    else:
        try:
            listening = any(item.port == 8080 for item in box.listeners())
        except OSError:
            listening = False
        ctx.rec.verdict("S1.port", listening, "8080 listening" if listening else "nothing on 8080", ready.reason)
        ctx.rec.failed("S2.ready", f"no 200 within {PING_READY_S:.0f} s", ready.reason)


def _latency(ctx: Context, endpoint: Endpoint) -> None:
    times = []
    for _ in range(PINGS):
        reply = endpoint.get("/ping", timeout=PING_S * 2.5)
        times.append(reply.seconds)
        if reply.status != 200 or reply.seconds > PING_S:
            ctx.rec.failed(
                "S2.latency", f"/ping: {reply.describe()}", f"each /ping must answer 200 within {PING_S:g} s"
            )
            return
    ctx.rec.passed("S2.latency", f"max {max(times):.3f} s over {len(times)} pings")


def _invocations(ctx: Context, endpoint: Endpoint) -> None:
    replies = [(request, invoke(endpoint, request)) for request in ctx.inputs.requests]
    slowest = max(reply.seconds for _, reply in replies)
    measured = f"{len(replies)} request(s), slowest {slowest:.3f} s"
    if ctx.inputs.generic:
        statuses = [reply.status for _, reply in replies]
        if any(s is None or s >= 500 for s in statuses):
            ctx.rec.failed("S3.invocations", f"statuses {statuses}", "a generic body got a 5xx or no answer")
        elif any(s is not None and s < 300 for s in statuses):
            ctx.rec.passed("S3.invocations", measured, f"statuses {statuses} to the generic bodies")
        else:
            ctx.rec.skipped(
                "S3.invocations", f"the generic bodies were refused ({statuses}); give sample requests in a descriptor"
            )
        return
    wrong = [f"{r.name}: {why}" for r, reply in replies if (why := mismatch(r, reply))]
    too_slow = [f"{r.name}: {reply.seconds:.1f} s" for r, reply in replies if reply.seconds > INVOKE_S]
    ctx.rec.verdict("S3.invocations", not wrong and not too_slow, measured, "; ".join(wrong + too_slow))


def mismatch(request: Request, reply: Reply) -> str | None:
    if reply.status is None:
        return reply.describe()
    why = answer_mismatch(request.answer, reply.status, reply.media_type, reply.body)
    return f"{why} ({reply.body[:120]!r})" if why else None


def _headers(ctx: Context, endpoint: Endpoint) -> None:
    sample = ctx.inputs.sample
    plain, extra = invoke(endpoint, sample), invoke(endpoint, sample, SAGEMAKER_HEADERS)
    measured = f"{plain.status} without, {extra.status} with {len(SAGEMAKER_HEADERS)} extra headers"
    why = None if ctx.inputs.generic else mismatch(sample, extra)
    ok = extra.status == plain.status and extra.status is not None and why is None
    ctx.rec.verdict("S4.headers", ok, measured, why or "")


def _custom_attributes(ctx: Context, endpoint: Endpoint) -> None:
    requests = ctx.inputs.attribute_requests
    if not requests:
        token = f"conformance-echo={uuid.uuid4().hex[:8]}"
        reply = invoke(endpoint, ctx.inputs.sample, {"X-Amzn-SageMaker-Custom-Attributes": token})
        if reply.headers.get("x-amzn-sagemaker-custom-attributes") == token:
            ctx.rec.passed("S4.custom-attributes", "echoed in the answer's X-Amzn-SageMaker-Custom-Attributes")
        else:
            ctx.rec.skipped(
                "S4.custom-attributes",
                "no sample request depends on the header and the answer does not echo it (tolerated: S4.headers)",
            )
        return
    problems = []
    for request in requests:
        with_header = invoke(endpoint, request)
        without = endpoint.post("/invocations", request.body, {"Content-Type": request.content_type}, INVOKE_S)
        why = mismatch(request, with_header)
        if why:
            problems.append(f"{request.name}: {why}")
        elif (with_header.status, with_header.body) == (without.status, without.body):
            problems.append(f"{request.name}: the same answer without the header")
    measured = ", ".join(f"{r.custom_attributes!r}" for r in requests)
    ctx.rec.verdict("S4.custom-attributes", not problems, measured, "; ".join(problems))


def _client_error(ctx: Context, check: str, reply: Reply, wanted: set[int]) -> None:
    readable = reply.status is not None and bool(reply.body)
    ok = readable and reply.status in wanted
    shown = sorted(wanted)[0] if len(wanted) == 1 else "a 4xx"
    detail = (
        "" if ok else f"expected {shown} with a body" + (" (empty body)" if reply.status and not reply.body else "")
    )
    ctx.rec.verdict(check, ok, reply.describe(), detail)


def _client_errors(ctx: Context, endpoint: Endpoint) -> None:
    sample = ctx.inputs.sample
    accept = {"Accept": sample.accept} if sample.accept else {}
    unknown_type = endpoint.post("/invocations", sample.body, {"Content-Type": UNKNOWN_TYPE, **accept})
    _client_error(ctx, "S6.content-type", unknown_type, {415})
    unknown_accept = endpoint.post(
        "/invocations", sample.body, {"Content-Type": sample.content_type, "Accept": UNKNOWN_TYPE}
    )
    _client_error(ctx, "S6.accept", unknown_accept, {406})
    malformed = endpoint.post("/invocations", malformed_body(sample.content_type), headers_of(sample))
    _client_error(ctx, "S6.malformed", malformed, {400})
    empty = endpoint.post("/invocations", b"", headers_of(sample))
    _client_error(ctx, "S6.empty", empty, set(range(400, 500)))


def _bodies(ctx: Context, endpoint: Endpoint) -> None:
    sample = ctx.inputs.sample
    largest = endpoint.post("/invocations", padded(sample, MAX_BODY), headers_of(sample), INVOKE_S)
    ok = largest.status is not None and largest.status < 500
    ctx.rec.verdict("S5.max-body", ok, f"{MAX_BODY:,} bytes: {largest.describe()}", "" if ok else "no readable answer")
    over = endpoint.post("/invocations", padded(sample, OVER_LIMIT), headers_of(sample), INVOKE_S)
    ok = over.status == 413
    detail = "" if ok else "expected a readable 413 (SageMaker's limit is 6 MB)"
    ctx.rec.verdict("S5.over-limit", ok, f"{OVER_LIMIT:,} bytes: {over.describe()}", detail)


@dataclass
class Probes:
    """What the busy check saw: each /ping's time, each connect's time (None: refused or timed out)."""

    pings: list[float] = field(default_factory=list)
    connects: list[float | None] = field(default_factory=list)
    slow: Reply | None = None  # the first /ping over the limit or not 200


def _probe_while(busy: Future[Reply], endpoint: Endpoint, probes: Probes) -> None:
    """Connect and ping back to back until the big request is answered (at least BUSY_MIN_S, at most 60 s)."""
    started = time.monotonic()
    while not busy.done() or time.monotonic() - started < BUSY_MIN_S:
        probes.connects.append(endpoint.connect_seconds())
        reply = endpoint.get("/ping", timeout=PING_S * 2.5)
        probes.pings.append(reply.seconds)
        if reply.status != 200 or reply.seconds > PING_S:
            probes.slow = reply
            return
        if time.monotonic() - started > INVOKE_S:
            return


def _busy(ctx: Context, endpoint: Endpoint) -> None:
    """Pings and connects timed while invocations keep every worker busy (plus one 6 MB body)."""
    stop = threading.Event()
    sample = ctx.inputs.sample

    def load() -> int:
        count = 0
        while not stop.is_set():
            invoke(endpoint, sample)
            count += 1
        return count

    probes = Probes(connects=[endpoint.connect_seconds() for _ in range(5)])  # idle first
    with ThreadPoolExecutor(BUSY_CLIENTS + 1) as pool:
        loads = [pool.submit(load) for _ in range(BUSY_CLIENTS)]
        big = pool.submit(endpoint.post, "/invocations", padded(sample, MAX_BODY), headers_of(sample), INVOKE_S)
        try:
            _probe_while(big, endpoint, probes)
        finally:
            stop.set()
        invocations = sum(f.result() for f in loads) + 1
    measured = f"max {max(probes.pings):.3f} s over {len(probes.pings)} pings during {invocations} invocations"
    detail = f"/ping under load: {probes.slow.describe()}" if probes.slow else ""
    ctx.rec.verdict("S2.busy", probes.slow is None, measured, detail)
    times = [t for t in probes.connects if t is not None]
    refused = len(probes.connects) - len(times)
    ok = not refused and max(times) <= ACCEPT_S
    measured = f"max {max(times, default=0) * 1e3:.1f} ms over {len(times)} connects"
    ctx.rec.verdict("S3.accept", ok, measured, f"{refused} refused or timed out" if refused else "")


def _sigterm(ctx: Context, box: Box) -> None:
    if box.exit_code() is not None:
        ctx.rec.skipped("S1.sigterm", f"the server had exited already (code {box.exit_code()})")
        return
    stop_within(ctx, "S1.sigterm", box, SERVE_STOP_S)
