"""Checkpoints under /opt/ml/checkpoints: generations of files, the two newest described by a manifest written last.

SageMaker syncs this folder with ``CheckpointConfig.S3Uri`` file by file, asynchronously, and restores it before a
managed-spot restart, so a restored folder may hold any mix of what was uploaded; a SIGKILL (120 s after SIGTERM,
or a spot reclaim) can also land in the middle of a save. So a save never touches the files it may have to fall
back to: each save is a generation of its own files (``g000007-epoch0003-step000000.checkpoint.npz``: a save
counter, then epoch and step), written (fsync, rename) before ``manifest.json``, which names the new generation
with each file's size and SHA-256 and keeps the previous generation's entry. Only once that manifest is in place
are older generations, and files of saves that never completed, deleted. Loading takes the newest generation
whose files all match the manifest, logging any it skips; a folder without a manifest, or whose generations are
all incomplete, starts fresh. The manifest also records the configuration the run depends on, and a checkpoint
of another configuration is refused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sm_contract.errors import CheckpointError, ConfigurationError
from sm_contract.files import atomic_write, sha256, write_json

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 2  # 1: one set of files under their own names, no generations (still read)
Writer = Callable[[Path], None]
# A generation's files, and the temporary files of their writes (files.atomic_write: "." + stem + "-...").
_GENERATION_FILE = re.compile(r"^\.?g(\d{6,})-epoch\d+-step\d+\.")
_MANIFEST_TEMP = re.compile(r"^\.manifest-.*\.json$")
_GENERATION_KEYS = ("generation", "epoch", "step", "state", "files")


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the trainer's state and the files of its generation."""

    directory: Path
    state: dict[str, Any]
    epoch: int
    step: int
    files: Mapping[str, str]  # name given to save() -> the generation's file in ``directory``

    def path(self, name: str) -> Path:
        return self.directory / self.files[name]


def check_name(name: object) -> str:
    """A checkpoint file name: one plain name inside the folder (never a path, ``..``, or hidden)."""
    if not isinstance(name, str) or not name or name.startswith(".") or name == MANIFEST:
        raise CheckpointError(f"checkpoint file name {name!r} is not a plain file name")
    if "/" in name or "\\" in name or ".." in name or "\0" in name:
        raise CheckpointError(f"checkpoint file name {name!r} names a path; only plain file names are allowed")
    return name


class CheckpointStore:
    """The checkpoints of a run whose resumable configuration is ``config`` (hyperparameters etc.)."""

    def __init__(self, directory: Path, config: Mapping[str, Any] | None = None) -> None:
        self.directory = directory
        self.config = json.loads(json.dumps(dict(config or {})))  # as it reads back from JSON
        self.manifest = directory / MANIFEST
        self._current: dict[str, Any] | None = None  # the generation last saved or loaded

    def save(self, files: Mapping[str, Writer], state: Mapping[str, Any], *, epoch: int, step: int = 0) -> None:
        """Write a new generation's files, then the manifest that makes it current, then drop older ones."""
        counter = self._next_counter()
        name = f"g{counter:06d}-epoch{epoch:04d}-step{step:06d}"
        entries = {}
        for logical, write in files.items():
            path = self.directory / f"{name}.{check_name(logical)}"
            atomic_write(path, write)
            entries[logical] = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256(path)}
        generation = {"generation": counter, "epoch": epoch, "step": step, "state": dict(state), "files": entries}
        listed_before = self._listed_on_disk()
        manifest = {"format": FORMAT, **generation, "config": self.config}
        if self._current is not None:
            manifest["previous"] = self._current
        write_json(self.manifest, manifest)
        self._prune(kept=_files_of(generation) | _files_of(self._current), listed_before=listed_before)
        self._current = generation
        logger.info("checkpoint saved to %s (epoch %d, step %d, %s)", self.directory, epoch, step, name)

    def load(self) -> Checkpoint | None:
        """The newest generation whose files check out, or ``None`` for a fresh start.

        Raises :class:`CheckpointError` for an unreadable manifest and :class:`ConfigurationError` for a
        checkpoint of another configuration.
        """
        if not self.manifest.is_file():
            leftovers = sorted(p.name for p in self.directory.glob("*")) if self.directory.is_dir() else []
            if leftovers:
                logger.warning("%s has no %s (no complete save yet): starting fresh", self.directory, MANIFEST)
            return None
        manifest = self._read_manifest()
        self._check_config(manifest.get("config", {}))
        skipped = []
        for generation in _generations(manifest):
            try:
                files = self._check_generation(generation)
            except CheckpointError as exc:
                label = f"epoch {generation.get('epoch')} step {generation.get('step')}"
                logger.warning("skipping the checkpoint of %s: %s", label, exc)
                skipped.append(label)
                continue
            self._current = {key: generation[key] for key in _GENERATION_KEYS if key in generation}
            found = Checkpoint(
                self.directory, dict(generation["state"]), int(generation["epoch"]), int(generation["step"]), files
            )
            logger.info("checkpoint found in %s (epoch %d, step %d)", self.directory, found.epoch, found.step)
            return found
        logger.warning(
            "no checkpoint in %s checks out (skipped %s): starting fresh", self.directory, "; ".join(skipped)
        )
        return None

    def _next_counter(self) -> int:
        """One more than any generation in the folder, listed or left by a save that never completed."""
        seen = [int(m.group(1)) for p in self._listing() if (m := _GENERATION_FILE.match(p))]
        if self._current is not None:
            seen.append(int(self._current.get("generation", 0)))
        return max(seen, default=0) + 1

    def _listing(self) -> list[str]:
        return [p.name for p in self.directory.iterdir()] if self.directory.is_dir() else []

    def _listed_on_disk(self) -> set[str]:
        """The files the manifest in the folder lists (before it is replaced), whatever their names."""
        try:
            return {name for generation in _generations(self._read_manifest()) for name in _files_of(generation)}
        except CheckpointError:
            return set()

    def _prune(self, kept: set[str], listed_before: set[str]) -> None:
        """Delete what the new manifest no longer lists: older generations and saves that never completed."""
        for name in self._listing():
            ours = name in listed_before or _GENERATION_FILE.match(name) or _MANIFEST_TEMP.match(name)
            if name not in kept and ours:
                (self.directory / name).unlink(missing_ok=True)

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest.read_text(encoding="utf-8"))
            if not (isinstance(manifest, dict) and manifest.get("format") in (1, FORMAT)):
                raise ValueError("unexpected content")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
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

    def _check_generation(self, generation: dict[str, Any]) -> dict[str, str]:
        """``{name: file}`` of a generation whose files all match their size and SHA-256."""
        try:
            int(generation["epoch"]), int(generation["step"])
            if not isinstance(generation["state"], dict) or not isinstance(generation["files"], dict):
                raise TypeError("state and files must be objects")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"its entry in {MANIFEST} is malformed ({exc})") from None
        files = {}
        for name, entry in generation["files"].items():
            stored = check_name(entry.get("file", name) if isinstance(entry, dict) else name)
            files[check_name(name)] = stored
            path = self.directory / stored
            if not isinstance(entry, dict) or not path.is_file():
                raise CheckpointError(f"{path} listed in {MANIFEST} is missing")
            if path.stat().st_size != entry.get("bytes") or sha256(path) != entry.get("sha256"):
                raise CheckpointError(f"{path} does not match {MANIFEST}: truncated or from another save")
        return files


def _files_of(generation: Mapping[str, Any] | None) -> set[str]:
    listed = generation.get("files") if generation else None
    if not isinstance(listed, dict):
        return set()
    return {str(entry.get("file", name)) if isinstance(entry, dict) else str(name) for name, entry in listed.items()}


def _generations(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's generations, newest first (format 1: the one set it describes)."""
    found = [manifest]
    previous = manifest.get("previous")
    if isinstance(previous, dict):
        found.append(previous)
    return found


_ADVICE = "restore a consistent copy or use an empty checkpoint location to start over"
