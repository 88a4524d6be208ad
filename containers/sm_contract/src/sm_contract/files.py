"""Durable file writes: a file is either its old content or its complete new content, also after a crash."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def _fsync_dir(folder: Path) -> None:
    # The rename itself must reach the disk too; some file systems refuse to open a directory (ignore those).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_temporary(path: Path) -> Path:
    """A new empty file next to ``path``, with the permissions the umask gives any new file.

    Not ``tempfile.mkstemp``: its files are 0600 whatever the umask, so a model written through it would reach
    ``model.tar.gz`` unreadable to anyone but root.
    """
    while True:
        tmp = path.parent / f".{path.stem}-{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, flush it to disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def write_json(path: Path, value: Any, *, indent: int | None = 2) -> None:
    """``value`` as UTF-8 JSON (non-ASCII kept readable), written atomically."""
    write_text(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
