"""What a local run leaves behind: a training job's tarballs, the pictures inside its output, the workflow picture."""

from __future__ import annotations

import tarfile
from pathlib import Path

from byoc_pipelines.asl.definitions import RENDERED_DIR

PICTURE_SUFFIXES = (".png", ".svg")


def pictures_from(archive: Path, target: Path) -> list[Path]:
    """Extract the pictures of a job's ``output.tar.gz`` (training curves, ...) into ``target``, flattened."""
    if not archive.is_file():
        return []
    written: list[Path] = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name  # never a path from the archive: no writing outside target
            handle = tar.extractfile(member) if member.isfile() and name.endswith(PICTURE_SUFFIXES) else None
            if handle is None:
                continue
            target.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(handle.read())
            written.append(target / name)
    return written


def training_artifacts(model_tarball: Path, pictures_dir: Path) -> list[Path]:
    """``model.tar.gz``, its sibling ``output.tar.gz`` and the pictures extracted from the latter."""
    output = model_tarball.with_name("output.tar.gz")
    found = [path for path in (model_tarball, output) if path.is_file()]
    return found + pictures_from(output, pictures_dir)


def workflow_picture(definition: str) -> Path | None:
    """The rendered picture of a definition (``make pipeline/render``), if there is one."""
    picture = RENDERED_DIR / f"{definition}.png"
    return picture if picture.is_file() else None
