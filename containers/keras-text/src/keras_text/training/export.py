"""The trained model in the TF Serving container's layout: ``<version>/`` SavedModel and ``code/``."""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_text import artifact
from keras_text import model as model_lib
from keras_text.artifact import inference, text_pipeline
from keras_text.backend import keras
from sm_contract.files import write_json

logger = logging.getLogger(__name__)

# What code/inference.py imports besides the standard library, per tokenizer: the TF Serving container
# pip-installs code/requirements.txt at start-up.
PACKAGES = {
    text_pipeline.SUDACHI: ("numpy", "sudachipy", f"sudachidict-{text_pipeline.DICTIONARY}"),
    text_pipeline.SENTENCEPIECE: ("numpy", "sentencepiece"),
}


def requirements(kind: str) -> str:
    """``code/requirements.txt``: the versions this image runs (numpy unpinned, as the container brings it)."""
    pins = [name if name == "numpy" else f"{name}=={importlib.metadata.version(name)}" for name in PACKAGES[kind]]
    return "".join(f"{pin}\n" for pin in pins)


def save_model(
    model_dir: Path,
    model_version: int,
    input_len: int,
    hyperparameters: dict[str, Any],
    network: keras.Model,
    pre: inference.Preprocessor,
    summary: dict[str, Any],
    notices: Sequence[Path] = (),
) -> None:
    """The TF Serving layout: ``<model-version>/`` SavedModel and ``code/`` with inference.py and its files.

    ``notices`` (licence files of pretrained vectors the model carries) are copied into ``code/`` too.
    """
    version_dir, code_dir = model_dir / str(model_version), model_dir / "code"
    for folder in (version_dir, code_dir):
        shutil.rmtree(folder, ignore_errors=True)
    model_lib.export(network, version_dir, input_len)
    code_dir.mkdir(parents=True)
    for name in artifact.FILES:
        shutil.copyfile(artifact.DIRECTORY / name, code_dir / name)
    pre.tokenizer.save(code_dir)
    (code_dir / "requirements.txt").write_text(requirements(pre.tokenizer.kind), encoding="utf-8")
    for notice in notices:
        shutil.copyfile(notice, code_dir / notice.name)
    meta = {
        "labels": list(pre.labels),
        "input_len": input_len,
        "hyperparameters": hyperparameters,
        "metrics": summary,
    }
    write_json(code_dir / inference.LABELS_FILE, meta)
    logger.info("model saved to %s (version %d) with code/ in %s", version_dir, model_version, code_dir)
