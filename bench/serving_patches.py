"""Scratch variants of ``sm_contract``'s serving modules for the serving profile: each removes one suspected cost.

The image's own file is read out of the image and patched by exact text replacement. A variant whose text is
no longer found (the code changed) stops the bench with an error naming it: fix or delete the variant, never
measure a copy that is not what it claims. ``tests/repo/test_bench_patches.py`` applies every variant to the
repository's modules. Nothing in containers/ is touched: the patched copy is bind-mounted over the installed
module of a container of the same image.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SITE = "/opt/venv/lib/python3.11/site-packages/sm_contract"
_INLINE = "        predicted = self.costs.predict(size) if on_loop else None"
_FAST_PATH = """        if scope["type"] == "http" and scope["path"] == "/invocations" and scope["method"] == "POST":"""


class StalePatchError(RuntimeError):
    """A variant's text is not in its module any more (not a LookupError: nothing may skip it quietly)."""


@dataclass(frozen=True)
class Patch:
    name: str
    what: str
    module: str = "serving.py"  # the file of sm_contract the replacements apply to
    replacements: tuple[tuple[str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def installed(self) -> str:
        return f"{SITE}/{self.module}"


PATCHES = (
    Patch("as-is", "the image unchanged"),
    Patch(
        "request-log-per-request",
        "a log line per request, as before the summary lines (SAGEMAKER_CONTAINER_LOG_LEVEL=DEBUG; no code change)",
        environment=(("SAGEMAKER_CONTAINER_LOG_LEVEL", "DEBUG"),),
    ),
    Patch(
        "always-thread-hop",
        "every request computed alone in the model thread (a hand-over each way), never on the event loop",
        "gate.py",
        ((_INLINE, "        predicted = None"),),
    ),
    Patch(
        "through-starlette",
        "/invocations routed by Starlette (its middleware and router) instead of answered before them",
        "serving.py",
        ((_FAST_PATH, """        if False:"""),),
    ),
)


def original(image: str, patch: Patch) -> str:
    done = subprocess.run(["docker", "run", "--rm", image, "cat", patch.installed], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cannot read {patch.installed} from {image}: {done.stderr[-500:]}")
    return done.stdout


def apply(patch: Patch, source: str) -> str:
    """``source`` with the patch's replacements; raises StalePatchError when a replaced text is missing."""
    text = source
    for old, new in patch.replacements:
        if old not in text:
            raise StalePatchError(f"{patch.name}: {old.strip()[:60]!r} not found in {patch.module}; fix or delete it")
        text = text.replace(old, new)
    return text


def write(patch: Patch, source: str, folder: Path) -> Path | None:
    """The patched copy (None for no code change); raises StalePatchError when a replaced text is missing."""
    if not patch.replacements:
        return None
    path = folder / f"{patch.module.removesuffix('.py')}-{patch.name}.py"
    path.write_text(apply(patch, source))
    return path
