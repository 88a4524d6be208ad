"""Checkpoints under /opt/ml/checkpoints, written atomically so an interruption never leaves half a file.

SageMaker syncs this folder with ``CheckpointConfig.S3Uri`` and restores it before a managed-spot restart; a
file deleted here is deleted in S3 too, so one fixed set of names is overwritten in place.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CheckpointStore:
    """The latest checkpoint: a payload file written by the trainer plus ``state.json`` (epoch etc.)."""

    def __init__(self, directory: Path, payload_name: str = "checkpoint.npz") -> None:
        self.directory = directory
        self.payload = directory / payload_name
        self.state_file = directory / STATE_FILE

    def save(self, state: dict[str, Any], write_payload: Callable[[Path], None]) -> None:
        """Write the payload first and the state last, so a state file always names a complete payload."""
        atomic_write(self.payload, write_payload)
        atomic_write(self.state_file, lambda p: p.write_text(json.dumps(state, indent=2), encoding="utf-8"))
        logger.info("checkpoint saved to %s (%s)", self.directory, _brief(state))

    def load_state(self) -> dict[str, Any] | None:
        """The state of the latest complete checkpoint, or ``None`` when there is none (or it is unreadable)."""
        if not (self.state_file.is_file() and self.payload.is_file()):
            return None
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("ignoring unreadable checkpoint state %s", self.state_file)
            return None
        return state if isinstance(state, dict) else None


def _brief(state: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in state.items() if isinstance(v, int | float | str))
