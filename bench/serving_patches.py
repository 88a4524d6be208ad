"""Scratch variants of ``sm_contract/serving.py`` for the serving profile: each removes one suspected cost.

The image's own file is read out of the image and patched by exact text replacement; a variant whose text is
no longer found (the code changed) is skipped with a note. Nothing in containers/ is touched: the patched copy
is bind-mounted over the installed module of a container of the same image.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALLED = "/opt/venv/lib/python3.11/site-packages/sm_contract/serving.py"
_THREAD = "outcome.response = await anyio.to_thread.run_sync(work)"
_DISCONNECT = """                        if await request.is_disconnected():
                            raise ClientGone
"""
_GATE = """        gate: Gate = request.state.gate
        return await gate.run(request, work)"""


@dataclass(frozen=True)
class Patch:
    name: str
    what: str
    replacements: tuple[tuple[str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()


PATCHES = (
    Patch("as-is", "the image unchanged"),
    Patch(
        "no-request-log",
        "no INFO line per request (SAGEMAKER_CONTAINER_LOG_LEVEL=WARNING; no code change)",
        environment=(("SAGEMAKER_CONTAINER_LOG_LEVEL", "WARNING"),),
    ),
    Patch(
        "no-thread-hop",
        "decode + predict + encode on the event loop instead of anyio.to_thread (Gate kept)",
        ((_THREAD, "outcome.response = work()"),),
    ),
    Patch("no-disconnect-check", "Gate without the is_disconnected() check", ((_DISCONNECT, ""),)),
    Patch(
        "no-gate",
        "work() straight in anyio.to_thread, without the Gate's task, event and cancel scope",
        ((_GATE, "        return await anyio.to_thread.run_sync(work)"),),
    ),
    Patch(
        "no-log-no-gate",
        "no request log and work() straight in anyio.to_thread (the thread hop kept, so /ping stays responsive)",
        ((_GATE, "        return await anyio.to_thread.run_sync(work)"),),
        (("SAGEMAKER_CONTAINER_LOG_LEVEL", "WARNING"),),
    ),
    Patch(
        "no-log-no-hop",
        "no request log and work() on the event loop",
        ((_THREAD, "outcome.response = work()"),),
        (("SAGEMAKER_CONTAINER_LOG_LEVEL", "WARNING"),),
    ),
)


def original(image: str) -> str:
    done = subprocess.run(["docker", "run", "--rm", image, "cat", INSTALLED], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cannot read {INSTALLED} from {image}: {done.stderr[-500:]}")
    return done.stdout


def write(patch: Patch, source: str, folder: Path) -> Path | None:
    """The patched copy (None for no code change); raises LookupError when a replaced text is missing."""
    if not patch.replacements:
        return None
    text = source
    for old, new in patch.replacements:
        if old not in text:
            raise LookupError(f"{patch.name}: {old.strip()[:60]!r} not found in serving.py")
        text = text.replace(old, new)
    path = folder / f"serving-{patch.name}.py"
    path.write_text(text)
    return path
