"""The external ASL linters: ``statelint`` (Python port of awslabs/statelint) and the npm ``asl-validator``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from byoc_pipelines.errors import ToolMissingError

ASL_VALIDATOR_ENV = "ASL_VALIDATOR"  # path of the asl-validator executable, if not in node_modules/.bin


@contextlib.contextmanager
def _as_file(definition: Mapping[str, Any]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="asl-") as folder:
        path = Path(folder) / "definition.json"
        path.write_text(json.dumps(definition, indent=2))
        yield path


def _run(command: list[str]) -> list[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode == 0:
        return []
    lines = (result.stdout + result.stderr).splitlines()
    return [line.strip() for line in lines if line.strip() and "npm warn" not in line] or [f"exit {result.returncode}"]


def statelint(definition: Mapping[str, Any]) -> list[str]:
    """Problems found by ``statelint`` (the Python port of awslabs/statelint)."""
    executable = Path(sys.executable).with_name("statelint")
    if not executable.exists():
        found = shutil.which("statelint")
        if found is None:
            raise ToolMissingError("statelint is not installed (pip install statelint==3.1.0)")
        executable = Path(found)
    with _as_file(definition) as path:
        return _run([str(executable), str(path)])


def asl_validator_path(start: Path | None = None) -> Path:
    """``$ASL_VALIDATOR``, else ``node_modules/.bin/asl-validator`` in the working folder or a parent."""
    if os.environ.get(ASL_VALIDATOR_ENV):
        return Path(os.environ[ASL_VALIDATOR_ENV])
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "node_modules" / ".bin" / "asl-validator"
        if path.exists():
            return path
    found = shutil.which("asl-validator")
    if found is None:
        raise ToolMissingError("asl-validator is not installed (npm ci at the repository root)")
    return Path(found)


def asl_validator(definition: Mapping[str, Any]) -> list[str]:
    """Problems found by the npm ``asl-validator`` (JSON schema, JSONPath and intrinsic syntax)."""
    executable = asl_validator_path()
    with _as_file(definition) as path:
        return _run([str(executable), "--json-path", str(path)])
