"""Script mode as SageMaker requests carry it: the reserved hyperparameters and model variables, and the
``sourcedir.tar.gz`` they point at (the user's code folder, packed reproducibly)."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

PROGRAM = "sagemaker_program"  # hyperparameter: the script to run, relative to the code folder
SUBMIT_DIRECTORY = "sagemaker_submit_directory"  # hyperparameter: where the code is (s3://.../sourcedir.tar.gz)
MODEL_PROGRAM = "SAGEMAKER_PROGRAM"  # the same two on a model, to serve the script's model_fn & co.
MODEL_SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"
SOURCEDIR = "sourcedir.tar.gz"
_SKIPPED = ("__pycache__", ".pytest_cache", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Script:
    """A user's program inside the code tarball at ``code_uri`` (raw values: the images JSON-decode or keep them)."""

    program: str
    code_uri: str

    def hyperparameters(self) -> dict[str, str]:
        return {PROGRAM: self.program, SUBMIT_DIRECTORY: self.code_uri}

    def model_environment(self) -> dict[str, str]:
        return {MODEL_PROGRAM: self.program, MODEL_SUBMIT_DIRECTORY: self.code_uri}


def _members(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(part in _SKIPPED for part in path.relative_to(folder).parts)
    )


def sourcedir_tarball(folder: Path) -> bytes:
    """``folder``'s files (caches left out) as a gzip tarball, byte-identical for identical content.

    Names are relative to the folder, timestamps zero, owners root, modes 0644 (0755 when executable).
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(folder):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            data = path.read_bytes()
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
