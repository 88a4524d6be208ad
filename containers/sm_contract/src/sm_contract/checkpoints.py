"""Checkpoints under /opt/ml/checkpoints: a consistent set of files, described by a manifest written last.

SageMaker syncs this folder with ``CheckpointConfig.S3Uri`` file by file and restores it before a managed-spot
restart, so the files of one folder may come from different saves. Each save writes its files (fsync, rename),
then ``manifest.json`` naming each file's epoch, step and SHA-256; loading checks every file against it. A
set that does not match fails the job with one line naming the file (nothing is overwritten, so the newest
consistent copy can still be recovered by hand); a folder without a manifest starts fresh. The manifest also
records the configuration the run depends on, and a checkpoint of another configuration is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sm_contract.errors import CheckpointError, ConfigurationError
from sm_contract.files import atomic_write, sha256, write_json

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the trainer's state and the folder holding its files."""

    directory: Path
    state: dict[str, Any]
    epoch: int
    step: int

    def path(self, name: str) -> Path:
        return self.directory / name


class CheckpointStore:
    """The latest checkpoint of a run whose resumable configuration is ``config`` (hyperparameters etc.)."""

    def __init__(self, directory: Path, config: Mapping[str, Any] | None = None) -> None:
        self.directory = directory
        self.config = json.loads(json.dumps(dict(config or {})))  # as it reads back from JSON
        self.manifest = directory / MANIFEST

    def save(self, files: Mapping[str, Writer], state: Mapping[str, Any], *, epoch: int, step: int = 0) -> None:
        """Write every file, then the manifest that makes them the current checkpoint."""
        entries = {}
        for name, write in files.items():
            path = self.directory / name
            atomic_write(path, write)
            entries[name] = {"epoch": epoch, "step": step, "bytes": path.stat().st_size, "sha256": sha256(path)}
        manifest = {
            "format": FORMAT,
            "epoch": epoch,
            "step": step,
            "config": self.config,
            "state": dict(state),
            "files": entries,
        }
        write_json(self.manifest, manifest)
        logger.info("checkpoint saved to %s (epoch %d, step %d)", self.directory, epoch, step)

    def load(self) -> Checkpoint | None:
        """The verified latest checkpoint, or ``None`` when the folder holds none (a fresh start).

        Raises :class:`CheckpointError` for a manifest or file that does not check out, and
        :class:`ConfigurationError` for a checkpoint of another configuration.
        """
        if not self.manifest.is_file():
            leftovers = sorted(p.name for p in self.directory.glob("*")) if self.directory.is_dir() else []
            if leftovers:
                logger.warning("%s has no %s (no complete save yet): starting fresh", self.directory, MANIFEST)
            return None
        manifest = self._read_manifest()
        self._check_config(manifest.get("config", {}))
        for name, entry in manifest["files"].items():
            self._check_file(name, entry)
        checkpoint = Checkpoint(self.directory, dict(manifest["state"]), int(manifest["epoch"]), int(manifest["step"]))
        logger.info("checkpoint found in %s (epoch %d, step %d)", self.directory, checkpoint.epoch, checkpoint.step)
        return checkpoint

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest.read_text(encoding="utf-8"))
            if not (
                isinstance(manifest, dict)
                and manifest.get("format") == FORMAT
                and isinstance(manifest.get("files"), dict)
                and isinstance(manifest.get("state"), dict)
            ):
                raise ValueError("unexpected content")
            int(manifest["epoch"]), int(manifest["step"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint file {self.manifest} is unreadable ({exc}); {_ADVICE}") from None
        return manifest

    def _check_config(self, saved: Any) -> None:
        saved = saved if isinstance(saved, dict) else {}
        mismatched = {k: (saved.get(k), v) for k, v in self.config.items() if saved.get(k) != v}
        if mismatched:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs job {b!r}" for k, (a, b) in mismatched.items())
            raise ConfigurationError(
                f"checkpoint in {self.directory} belongs to another configuration ({detail}); "
                "use an empty checkpoint location"
            )

    def _check_file(self, name: str, entry: Any) -> None:
        path = self.directory / name
        if not isinstance(entry, dict) or not path.is_file():
            raise CheckpointError(f"checkpoint file {path} listed in {MANIFEST} is missing; {_ADVICE}")
        if path.stat().st_size != entry.get("bytes") or sha256(path) != entry.get("sha256"):
            raise CheckpointError(
                f"checkpoint file {path} does not match {MANIFEST} (epoch {entry.get('epoch')}, "
                f"step {entry.get('step')}): truncated or from another save; {_ADVICE}"
            )


_ADVICE = "restore a consistent copy or use an empty checkpoint location to start over"
