"""Script-mode code on this machine: ``sourcedir.tar.gz`` handed to the containers as a folder.

On AWS ``sagemaker_submit_directory`` (and a model's ``SAGEMAKER_SUBMIT_DIRECTORY``) is an ``s3://`` tarball that
the container downloads. Here, after ``s3://`` is mapped to ``file://``, a tarball is unpacked into a folder of the
run (the container could cope with a tarball, but a folder is what SDK local mode mounts for a model, and every
host of a training job then shares it read-only at ``/opt/ml/code``). The definition and the input never change.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

from byoc_pipelines.sagemaker.script_mode import MODEL_SUBMIT_DIRECTORY

FILE = "file://"


def decoded(value: str) -> str:
    """A hyperparameter as the images read it: JSON-decoded when it is a JSON string, else the raw value."""
    try:
        loaded = json.loads(value)
    except ValueError:
        return value
    return loaded if isinstance(loaded, str) else value


def as_folder(location: str, folder: Path) -> str:
    """``location`` itself, or for a ``file://`` tarball the ``file://`` folder it was unpacked into."""
    if not location.startswith(FILE):
        return location
    path = Path(location.removeprefix(FILE))
    if not path.is_file():
        return location
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path) as archive:
        archive.extractall(folder, filter="data")  # no absolute paths, no escaping links, no devices
    return f"{FILE}{folder}"


def model_environment(environment: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The model's variables with ``SAGEMAKER_SUBMIT_DIRECTORY`` a folder location (the SDK mounts it)."""
    found = dict(environment)
    if MODEL_SUBMIT_DIRECTORY in found:
        found[MODEL_SUBMIT_DIRECTORY] = as_folder(found[MODEL_SUBMIT_DIRECTORY], folder)
    return found
