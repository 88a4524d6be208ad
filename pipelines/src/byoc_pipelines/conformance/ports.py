"""A server coming up: /ping on its port, what else it listens on, and S7 (``SAGEMAKER_BIND_TO_PORT``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byoc_pipelines.conformance import procfs
from byoc_pipelines.conformance.context import PING_READY_S, Context
from byoc_pipelines.conformance.sandbox import Box
from byoc_pipelines.conformance.wire import Endpoint
from byoc_pipelines.local.job_files import Mount

BIND_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
BIND_PORT = 9081  # what the suite asks for; SageMaker picks its own
SAFE_RANGE = (20000, 20999)
READY_PING_TIMEOUT_S = 10.0  # generous while waiting: S2.latency holds each ping to 2 s
POLL_S = 0.1


@dataclass(frozen=True)
class Ready:
    seconds: float | None  # from container start to the first /ping 200; None: never
    reason: str = ""  # why not
    wrong_port: int | None = None  # answers /ping 200 on this port instead
    exit_code: int | None = None
    oom_killed: bool = False


def listeners_text(listeners: list[procfs.Listener]) -> str:
    return ", ".join(f"{item.address}:{item.port}" for item in listeners) or "none"


def tail(box: Box, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in box.logs().strip().splitlines()[-lines:])


def _serving_elsewhere(box: Box, ip: str, port: int) -> int | None:
    """A port other than ``port`` on which the server answers /ping 200, if it listens on no ``port``.

    A server that starts listening on ``port`` and another port at the same moment can be read as listening on the
    other one only: the kernel lists listening sockets bucket by bucket, so a read may pass ``port``'s bucket just
    before its socket arrives and reach the other's just after. So ``port`` is asked once more before the answer
    is "the wrong port": by then it answers if it listens at all.
    """
    try:
        found = box.listeners()
    except OSError:
        return None
    if any(item.port == port for item in found):
        return None
    for item in found:
        if not item.loopback_only and Endpoint(ip, item.port).get("/ping", timeout=2.0).status == 200:
            if Endpoint(ip, port).get("/ping", timeout=2.0).error == "refused":
                return item.port
            return None  # it listens on ``port`` after all: the caller's next poll reads its answer
    return None


def wait_ready(box: Box, port: int = 8080, limit_s: float = PING_READY_S) -> Ready:
    """Poll /ping until 200, the container exits, it turns out to serve on another port, or ``limit_s`` passes."""
    ip = box.ip
    if not ip:  # it exited before Docker gave it an address (an empty host would mean this machine)
        box.wait(10.0)
        code = box.exit_code()
        return Ready(None, f"exited with code {code} at once: {tail(box)}", exit_code=code)
    endpoint = Endpoint(ip, port)
    while True:
        reply = endpoint.get("/ping", timeout=READY_PING_TIMEOUT_S)
        if reply.status == 200:
            return Ready(time.monotonic() - box.started)
        code = box.exit_code()
        if code is not None:
            oom = box.oom_killed()
            why = "killed by the OOM killer" if oom else f"exited with code {code}"
            return Ready(None, f"{why} before /ping answered: {tail(box)}", exit_code=code, oom_killed=oom)
        if reply.error == "refused":
            other = _serving_elsewhere(box, ip, port)
            if other is not None:
                return Ready(None, f"answers /ping on port {other}, nothing listens on {port}", wrong_port=other)
        if time.monotonic() - box.started > limit_s:
            return Ready(None, f"no /ping 200 on port {port} within {limit_s:.0f} s (last: {reply.describe()})")
        time.sleep(POLL_S)


@contextmanager
def server(
    ctx: Context, name: str, port: int = 8080, limit_s: float = PING_READY_S, **options: Any
) -> Iterator[tuple[Box, Ready]]:
    """``serve`` started once no other server of the run is starting, and its readiness; removed at the end."""
    with ctx.startups.one():
        box = ctx.sandbox.start(name, ["serve"], **options)
        ready = wait_ready(box, port, limit_s)
    try:
        yield box, ready
    finally:
        ctx.sandbox.remove(box)


def bind_to_port(ctx: Context, model: Path) -> None:
    """S7: with the label, the server moves to ``SAGEMAKER_BIND_TO_PORT`` and keeps other ports in the safe range."""
    ids = ("S7.bind-port", "S7.safe-ports")
    if not ctx.label(BIND_LABEL):
        ctx.rec.skip_rest(ids, f"the image lacks the label {BIND_LABEL}=true (SageMaker then never sets the variable)")
        return
    low, high = SAFE_RANGE
    env = {**ctx.inputs.serving_environment, "SAGEMAKER_BIND_TO_PORT": str(BIND_PORT)}
    env["SAGEMAKER_SAFE_PORT_RANGE"] = f"{low}-{high}"
    with server(ctx, "bind-port", BIND_PORT, mounts=[Mount(model, "/opt/ml/model")], environment=env) as (box, ready):
        if ready.seconds is None:
            ctx.rec.failed("S7.bind-port", f"SAGEMAKER_BIND_TO_PORT={BIND_PORT}", ready.reason)
            ctx.rec.skip_rest(ids, "the server never answered on SAGEMAKER_BIND_TO_PORT")
            return
        try:
            found = box.listeners()
        except OSError as exc:
            ctx.rec.passed("S7.bind-port", f"/ping 200 on {BIND_PORT}", f"other ports not inspected: {exc}")
            ctx.rec.skipped("S7.safe-ports", f"cannot read the container's sockets here ({exc})")
            return
        ports = sorted({item.port for item in found})
        on_default = 8080 in ports and BIND_PORT != 8080
        ctx.rec.verdict(
            "S7.bind-port",
            not on_default,
            f"/ping 200 on {BIND_PORT}; listens on {listeners_text(found)}",
            "also listens on 8080, which another container of the pipeline may need" if on_default else "",
        )
        outside = [p for p in ports if p not in (BIND_PORT, 8080) and not low <= p <= high]
        ctx.rec.verdict(
            "S7.safe-ports",
            not outside,
            f"other ports: {[p for p in ports if p != BIND_PORT] or 'none'}",
            f"outside SAGEMAKER_SAFE_PORT_RANGE={low}-{high}: {outside}" if outside else "",
        )
