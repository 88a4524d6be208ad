"""Input channels: find a channel's folder and its files, with errors that name what is missing."""

from __future__ import annotations

from pathlib import Path

from sm_contract.environment import TrainingEnv
from sm_contract.errors import ChannelNotFoundError, DataError


def channel_dir(env: TrainingEnv, name: str, *, required: bool = True) -> Path | None:
    """The folder of channel ``name``; ``None`` for an absent optional channel."""
    config = env.channels.get(name)
    path = config.path if config else env.paths.channel_dir(name)
    if config is None and not path.is_dir():
        if required:
            raise ChannelNotFoundError(name, list(env.channels))
        return None
    if not path.is_dir():
        raise DataError(f"channel '{name}' is configured but its folder {path} does not exist")
    return path


def channel_file(env: TrainingEnv, name: str, filename: str, *, required: bool = True) -> Path | None:
    """File ``filename`` of channel ``name``; errors list the files the channel does hold."""
    folder = channel_dir(env, name, required=required)
    if folder is None:
        return None
    path = folder / filename
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())[:10]
        listed = ", ".join(present) if present else "no files"
        raise DataError(f"channel '{name}': file '{filename}' not found (channel holds: {listed})")
    return path
