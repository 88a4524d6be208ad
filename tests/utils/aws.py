"""An environment where no real AWS credentials, config files or instance metadata can leak into a test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REGION = "eu-west-1"


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, folder: Path, *, fake_credentials: bool) -> None:
    """Clear AWS_*, point the shared files at empty ones; optionally give moto fake keys and ``REGION``."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for name in ("credentials", "config"):
        (folder / name).write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if fake_credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
