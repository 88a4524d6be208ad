"""SIGKILL this process at a chosen rename into a folder: a kill -9 at an exact point of a checkpoint save.

Every file of a save lands with ``os.replace`` (``sm_contract.files.atomic_write``), so counting the renames into
the checkpoint folder names each point of a save: before or after its n-th file, the manifest being the last.
A test starts a training run in a child process with :func:`arm` called first (``python -c``), then restarts it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def arm(folder: Path, at: int, when: str) -> None:
    """Kill this process ``when`` (``before`` or ``after``) the ``at``-th rename into ``folder``."""
    real_replace = os.replace
    count = 0

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal count
        hit = False
        if Path(dst).parent.resolve() == folder.resolve():
            count += 1
            hit = count == at
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *args, **kwargs)
        if hit and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace  # type: ignore[assignment]
