"""What an image's framework adds to script mode: a plain description, light to import (every image's ``image.py``
names one, and the ``serve`` supervisor and its workers import ``image.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Framework:
    """What an image's framework adds to script mode (the AWS framework container it stands in for)."""

    name: str
    multi_host: Literal["mpi", "per_host"]  # how several hosts cooperate unless the job says otherwise
    builtin_module: str  # ``python -m <this>`` runs the image's built-in trainer as a program
    model_dir_argument: bool = False  # TensorFlow's containers add ``--model_dir``
