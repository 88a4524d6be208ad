"""Script mode: the user's code from S3, a folder or a tarball, unpacked safely, its requirements installed."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sm_contract.errors import ConfigurationError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

logger = logging.getLogger(__name__)

REQUIREMENTS = "requirements.txt"
SCRATCH = Path(tempfile.gettempdir()) / "sm-user-code"


def fetch(location: str | None, code_dir: Path, environ: Mapping[str, str]) -> Path:
    """The folder holding the user's code, downloaded and unpacked when needed.

    ``location`` is ``sagemaker_submit_directory``: an ``s3://`` tarball, a folder, a tarball, or ``None``
    for ``code_dir`` (/opt/ml/code, where SDK local mode mounts a local source folder). A tarball is unpacked
    into ``code_dir`` when that is an empty folder, else into a scratch folder.
    """
    if location is None or location.rstrip("/") == str(code_dir):
        location = str(code_dir)
    if location.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="sm-download-") as scratch:
            archive = download(location, Path(scratch) / "sourcedir.tar.gz", environ)
            return unpack(archive, _target(code_dir))
    path = Path(location.removeprefix("file://"))
    if path.is_dir():
        return path
    if path.is_file() and tarfile.is_tarfile(path):
        return unpack(path, _target(code_dir))
    raise ConfigurationError(f"sagemaker_submit_directory {location!r} is neither a folder nor a tarball")


def _target(code_dir: Path) -> Path:
    if not code_dir.exists() or (code_dir.is_dir() and not any(code_dir.iterdir())):
        return code_dir
    return SCRATCH


def download(uri: str, target: Path, environ: Mapping[str, str]) -> Path:
    """``s3://bucket/key`` with the job's credentials; the S3 endpoint SDK local mode sets is honoured."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    endpoint = environ.get("S3_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL_S3") or None
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or environ.get("SAGEMAKER_REGION") or None
    client = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    try:
        client.download_file(bucket, key, str(target))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ConfigurationError(
            f"cannot download the code {uri}: {error.get('Code', '?')} {error.get('Message', '')}".strip()
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"cannot download the code {uri}: {exc}") from None
    logger.info("downloaded %s (%d bytes)", uri, target.stat().st_size)
    return target


def _safe_members(archive: tarfile.TarFile, where: str) -> list[tarfile.TarInfo]:
    """Regular files, folders and links that stay inside the target (no absolute paths, ``..`` or devices)."""
    members = []
    for member in archive.getmembers():
        name = PurePosixPath(member.name)
        escapes = name.is_absolute() or ".." in name.parts
        if member.issym() or member.islnk():
            link = PurePosixPath(member.linkname)
            base = name.parent if member.issym() else PurePosixPath()
            escapes |= link.is_absolute() or ".." in (base / link).parts
        if escapes or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise ConfigurationError(f"{where}: member {member.name!r} would land outside the code folder")
        members.append(member)
    return members


def unpack(archive_path: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path) as archive:
            members = _safe_members(archive, archive_path.name)
            archive.extractall(target, members=members)  # noqa: S202 - members checked above
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigurationError(f"the code tarball {archive_path.name} cannot be unpacked: {exc}") from None
    logger.info("unpacked %s into %s", archive_path.name, target)
    return target


_PIP_ERROR = re.compile(r"^ERROR: (.*)$")


def satisfied(requirements: str) -> bool:
    """Whether pip would install nothing: every line is a requirement by name that an installed version meets
    (``numpy``, ``numpy>=2``, ``name==1.0``), or whose marker leaves this environment out. That is pip's own rule
    without ``--upgrade``; pip, its second of start-up and its index look-ups are then skipped. Anything else
    (options, URLs, extras, a continued line) goes to pip."""
    from packaging.requirements import InvalidRequirement, Requirement  # pip's own parser of requirements

    for raw in requirements.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            return False
        if not _installed_meets(requirement):
            return False
    return True


def _installed_meets(requirement: Requirement) -> bool:
    from packaging.version import InvalidVersion

    if requirement.url is not None or requirement.extras:
        return False
    if requirement.marker is not None and not requirement.marker.evaluate():
        return True  # pip ignores the line here
    try:
        installed = importlib.metadata.version(requirement.name)
        return requirement.specifier.contains(installed, prereleases=True)  # an installed pre-release counts
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False


def install_requirements(code_dir: Path, environ: Mapping[str, str]) -> None:
    """``pip install -r requirements.txt`` when the code has one; a failure names the requirement."""
    requirements = code_dir / REQUIREMENTS
    if not requirements.is_file():
        return
    if satisfied(requirements.read_text(encoding="utf-8", errors="replace")):
        logger.info("%s: every requirement is met already", requirements)
        return
    logger.info("installing %s", requirements)
    pip_install(["-r", str(requirements)], code_dir, environ)


def pip_install(arguments: list[str], cwd: Path, environ: Mapping[str, str]) -> None:
    """``pip install`` with ``arguments``, its output passed on and what it installed logged (pip's installation
    report); a failure names pip's last error in one line."""
    with tempfile.TemporaryDirectory(prefix="sm-pip-") as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
        command += ["--report", str(report), *arguments]
        environment = {**os.environ, **environ}
        result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode != 0:
            errors = [m.group(1) for line in result.stderr.splitlines() if (m := _PIP_ERROR.match(line.strip()))]
            cause = errors[-1] if errors else f"pip exited {result.returncode}"
            raise ConfigurationError(f"{REQUIREMENTS} could not be installed: {cause}")
        installed = json.loads(report.read_text(encoding="utf-8")).get("install", []) if report.is_file() else []
    log_installed(installed)


def log_installed(installed: list[Any]) -> None:
    """One line naming every package pip installed, then each one's source and SHA-256 (from pip's report)."""
    described = []
    for item in installed:
        meta, source = item.get("metadata") or {}, item.get("download_info") or {}
        hashes = (source.get("archive_info") or {}).get("hashes") or {}
        described.append((f"{meta.get('name')}=={meta.get('version')}", source.get("url"), hashes.get("sha256")))
    pins = ", ".join(pin for pin, _, _ in described)
    logger.info("%s installed %d package(s): %s", REQUIREMENTS, len(described), pins or "none")
    for pin, url, sha256 in described:
        logger.info("installed %s from %s sha256=%s", pin, url, sha256 or "unknown")
