"""S3 as a local folder: ``s3://bucket/key`` is ``<root>/bucket/key``, and requests rewritten between the two.

The definition and the execution input keep their S3 URIs, as on AWS; only the local runner maps them to
``file://`` on the way in and back to ``s3://`` on the way out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _map_strings(value: Any, convert: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, Mapping):
        return {key: _map_strings(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, convert) for item in value]
    return value


@dataclass(frozen=True)
class S3Folder:
    """A local folder standing in for S3."""

    root: Path

    def path(self, uri: str) -> Path:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri}")
        return self.root / uri.removeprefix("s3://")

    def file_uri(self, uri: str) -> str:
        """``s3://b/k`` -> ``file://<root>/b/k`` (a trailing ``/`` kept); any other string is returned as it is."""
        if not uri.startswith("s3://"):
            return uri
        return f"file://{self.path(uri)}{'/' if uri.endswith('/') else ''}"

    def s3_uri(self, uri: str) -> str:
        """``file://<root>/b/k`` -> ``s3://b/k``; any other string is returned as it is."""
        prefix = f"file://{self.root}/"
        return "s3://" + uri.removeprefix(prefix) if uri.startswith(prefix) else uri

    def to_files(self, value: Any) -> Any:
        """A copy of a request (nested dicts and lists) with every ``s3://`` string as a ``file://`` URI."""
        return _map_strings(value, self.file_uri)

    def to_s3(self, value: Any) -> Any:
        """A copy of an answer with every ``file://`` URI under the root back in ``s3://`` terms."""
        return _map_strings(value, self.s3_uri)

    def put(self, source: Path, uri: str) -> None:
        """Copy a file (``uri`` is its key or its folder ending in ``/``) or a folder's content to ``uri``."""
        target = self.path(uri)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            return
        if uri.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def put_bytes(self, data: bytes, uri: str) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
