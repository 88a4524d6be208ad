"""The opt-in serverless profile: the server under a memory cap (1024-6144 MB), 3 minutes to /ping, 4 MB bodies."""

from __future__ import annotations

from pathlib import Path

from byoc_pipelines.conformance.context import INVOKE_S, SERVERLESS_BODY, SERVERLESS_READY_S, Context
from byoc_pipelines.conformance.inputs import padded
from byoc_pipelines.conformance.ports import server
from byoc_pipelines.conformance.sandbox import Box
from byoc_pipelines.conformance.serving import headers_of, invoke, mismatch
from byoc_pipelines.local.job_files import Mount

IDS = ("V.ping", "V.payload", "V.invocations")


def run(ctx: Context, model: Path) -> None:
    memory = ctx.options.serverless_memory_mb
    if memory is None:
        ctx.rec.skip_rest(IDS, "opt-in: --serverless MB")
        return
    mounts = [Mount(model, "/opt/ml/model")]
    env = ctx.inputs.serving_environment
    with server(ctx, "serverless", limit_s=SERVERLESS_READY_S, mounts=mounts, environment=env, memory_mb=memory) as (
        box,
        ready,
    ):
        if ready.seconds is None:
            ctx.rec.failed("V.ping", f"--memory {memory}m", ready.reason)
            ctx.rec.skip_rest(IDS, "not ready under the memory cap")
            return
        ctx.rec.passed("V.ping", f"{ready.seconds:.2f} s after start under --memory {memory}m", seconds=ready.seconds)
        _payload(ctx, box)
        _invocations(ctx, box, memory)


def _payload(ctx: Context, box: Box) -> None:
    sample = ctx.inputs.sample
    reply = box.endpoint().post("/invocations", padded(sample, SERVERLESS_BODY), headers_of(sample), INVOKE_S)
    ok = reply.status is not None and reply.status < 500
    detail = "" if ok else ("killed by the OOM killer" if box.oom_killed() else "no readable answer")
    ctx.rec.verdict("V.payload", ok, f"{SERVERLESS_BODY:,} bytes: {reply.describe()}", detail)


def _invocations(ctx: Context, box: Box, memory: int) -> None:
    if box.exit_code() is not None:
        ctx.rec.failed(
            "V.invocations",
            f"exit {box.exit_code()}",
            "killed by the OOM killer" if box.oom_killed() else "the server exited",
        )
        return
    endpoint = box.endpoint()
    replies = [(request, invoke(endpoint, request)) for request in ctx.inputs.requests]
    wrong = [f"{r.name}: {why}" for r, reply in replies if (why := mismatch(r, reply))]
    if ctx.inputs.generic:
        wrong = [f"{r.name}: {reply.describe()}" for r, reply in replies if reply.status is None or reply.status >= 500]
    slowest = max(reply.seconds for _, reply in replies)
    too_slow = slowest > INVOKE_S
    detail = "; ".join(wrong) + ("; killed by the OOM killer" if box.oom_killed() else "")
    measured = f"{len(replies)} request(s), slowest {slowest:.3f} s under --memory {memory}m"
    ctx.rec.verdict("V.invocations", not wrong and not too_slow, measured, detail)
