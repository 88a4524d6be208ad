"""Logging set-up, called once by each entry point (never at import)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_of(value: str | int) -> int:
    """``"INFO"``, ``"info"`` or ``"20"`` (what the SDK sets in SAGEMAKER_CONTAINER_LOG_LEVEL)."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    return level if isinstance(level, int) else logging.INFO


def configure(level: str | int = "INFO") -> None:
    """One stdout handler on the root logger at ``level`` (again after a library lowered it)."""
    logging.basicConfig(level=level_of(level), format=FORMAT, stream=sys.stdout, force=False)
    logging.getLogger().setLevel(level_of(level))
    for noisy in ("botocore", "boto3", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
