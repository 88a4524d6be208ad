"""Script-mode code for SDK local mode: ``sourcedir.tar.gz`` handed to the SDK as a folder, and the encoding it wants.

On AWS ``sagemaker_submit_directory`` (and a model's ``SAGEMAKER_SUBMIT_DIRECTORY``) is an ``s3://`` tarball that
the container downloads. SDK local mode instead mounts a ``file://`` location at ``/opt/ml/code`` and, for
training, ``json.loads`` the hyperparameter first, so a raw value (as Step Functions sends it) breaks it
(``sagemaker/core/local/image.py``). The runner therefore, after mapping ``s3://`` to ``file://``:

* unpacks a ``file://`` tarball into a folder of the run (the container could cope with a tarball mounted as
  ``/opt/ml/code``, but a folder is what local mode expects, and every host then shares it read-only);
* JSON-encodes the training hyperparameter. The definition and the execution input never change.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

from byoc_pipelines.sagemaker.script_mode import MODEL_SUBMIT_DIRECTORY, SUBMIT_DIRECTORY

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


def training_hyperparameters(hyperparameters: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The hyperparameters with ``sagemaker_submit_directory`` a JSON-encoded folder location, for the SDK."""
    found = dict(hyperparameters)
    if SUBMIT_DIRECTORY in found:
        found[SUBMIT_DIRECTORY] = json.dumps(as_folder(decoded(found[SUBMIT_DIRECTORY]), folder))
    return found


def model_environment(environment: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The model's variables with ``SAGEMAKER_SUBMIT_DIRECTORY`` a folder location (the SDK mounts it)."""
    found = dict(environment)
    if MODEL_SUBMIT_DIRECTORY in found:
        found[MODEL_SUBMIT_DIRECTORY] = as_folder(found[MODEL_SUBMIT_DIRECTORY], folder)
    return found
