"""The trained model in the TF Serving container's layout: ``<version>/`` SavedModel and ``code/``."""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
from pathlib import Path
from typing import Any

from keras_text import inference, text
from keras_text import model as model_lib
from keras_text.backend import keras
from sm_contract.files import write_json

logger = logging.getLogger(__name__)


def save_model(
    model_dir: Path,
    model_version: int,
    input_len: int,
    hyperparameters: dict[str, Any],
    network: keras.Model,
    pre: inference.Preprocessor,
    text_model: text.TextModel,
    summary: dict[str, Any],
) -> None:
    """The TF Serving layout: ``<model-version>/`` SavedModel and ``code/`` with inference.py and its files."""
    version_dir, code_dir = model_dir / str(model_version), model_dir / "code"
    for folder in (version_dir, code_dir):
        shutil.rmtree(folder, ignore_errors=True)
    model_lib.export(network, version_dir, input_len)
    code_dir.mkdir(parents=True)
    shutil.copyfile(Path(inference.__file__), code_dir / "inference.py")
    (code_dir / inference.TOKENIZER_FILE).write_bytes(text_model.tokenizer)
    # What inference.py imports besides the standard library; the TF Serving container pip-installs this file.
    pins = f"numpy\nsentencepiece=={importlib.metadata.version('sentencepiece')}\n"
    (code_dir / "requirements.txt").write_text(pins, encoding="utf-8")
    meta = {
        "labels": list(pre.labels),
        "input_len": input_len,
        "hyperparameters": hyperparameters,
        "metrics": summary,
    }
    write_json(code_dir / inference.LABELS_FILE, meta)
    logger.info("model saved to %s (version %d) with code/ in %s", version_dir, model_version, code_dir)
