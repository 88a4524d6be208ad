"""keras-text's former built-in handler behind the image's own server: the contender of bench/keras_text_tfs.py.

The image serves its model through ``code/inference.py`` and the TF Serving REST API in process
(``keras_text.serving``); this app factory serves the same model through ``TextHandler`` instead: the model's
``inference.py`` functions called directly on the SavedModel's ``serving_default`` function, no REST round trip,
with the same uvicorn workers, threads and Gate. bench/keras_text_tfs.py mounts this folder into the image and
starts it with ``sm_contract.server.serve``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from starlette.applications import Starlette

from keras_text.artifact import inference, text_pipeline
from keras_text.artifact.inference import BATCHED, LINE, PROBABILITIES, TOKENS
from sm_contract import codecs, server
from sm_contract import content_types as ct
from sm_contract.environment import RequestLimits, ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError

logger = logging.getLogger(__name__)

CODE_DIR = "code"
MAX_BATCH = 64  # texts per model call; bounds memory for large batch-transform requests
LOAD_LOCK = Path(tempfile.gettempdir()) / "keras-text-model-load.lock"


@dataclass(frozen=True)
class Decoded:
    lines: list[inference.Line]
    content_type: str


@dataclass(frozen=True)
class Predicted:
    answers: list[Any]
    content_type: str


def _version_dir(model_dir: Path) -> Path:
    """The highest numeric version folder holding a SavedModel (TF Serving's choice too)."""
    versions = [p for p in model_dir.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not versions:
        present = ", ".join(sorted(p.name for p in model_dir.iterdir())[:10]) or "nothing"
        raise ModelLoadError(f"no <version>/saved_model.pb in {model_dir} (it holds: {present})")
    return max(versions, key=lambda p: int(p.name))


def _import_code(code_dir: Path) -> ModuleType:
    """The model's own ``code/inference.py`` (the file training copied), so both servers share one copy."""
    path = code_dir / "inference.py"
    spec = importlib.util.spec_from_file_location("keras_text_model_code", path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def one_loader_at_a_time() -> Iterator[None]:
    """Worker processes load the model in turn, not side by side.

    Importing TensorFlow and loading the model is CPU-bound. Side by side, every worker competes for the same
    cores and the first /ping 200 waits for the slowest of them; in turn, the first worker answers after one
    load's time and the others follow. The lock dies with its holder, so a crashed worker cannot block the rest.
    """
    try:
        handle = LOAD_LOCK.open("a")
    except OSError:  # e.g. a read-only file system: load side by side
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ServingFunction:
    """The compiled ``serving_default`` function of an exported model (no Python layer code needed).

    TensorFlow's thread pools follow ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``, which ``serve``
    sets for each worker's share of the CPUs.
    """

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(directory))  # kept: the function only weakly holds its variables
        self._function = self._loaded.signatures["serving_default"]

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        tf = self._tf
        zeros = tf.zeros([tokens.shape[0]], tf.int32)
        out = self._function(**{TOKENS: tf.constant(tokens, tf.int32), LINE: zeros, BATCHED: zeros})
        return out[PROBABILITIES].numpy()


class TextHandler:
    content_types = (ct.JSON, ct.JSONLINES)
    accept_types = (ct.JSON, ct.JSONLINES)

    def __init__(self, function: ServingFunction, code: ModuleType, pre: Any, limits: RequestLimits) -> None:
        self.function, self.code, self.pre, self.limits = function, code, pre, limits

    @classmethod
    def load(cls, env: ServingEnv) -> TextHandler:
        model_dir = env.model_dir
        if not model_dir.is_dir():
            raise ModelLoadError(f"model dir {model_dir} does not exist")
        version_dir, code_dir = _version_dir(model_dir), model_dir / CODE_DIR
        needed = ("inference.py", "text_pipeline.py", text_pipeline.SETTINGS_FILE, inference.LABELS_FILE)
        missing = [n for n in needed if not (code_dir / n).is_file()]
        if missing:
            raise ModelLoadError(f"{code_dir} lacks {', '.join(missing)}")
        code = _import_code(code_dir)
        pre = code.Preprocessor.from_dir(code_dir)
        with one_loader_at_a_time():
            handler = cls(ServingFunction(version_dir), code, pre, env.limits)
            handler.probabilities(["warm-up"])  # the first call builds the function's kernels
        logger.info("loaded model %s with %d labels, input_len %d", version_dir, len(pre.labels), pre.input_len)
        return handler

    def probabilities(self, texts: list[str]) -> np.ndarray:
        tokens = self.pre.encode(texts)
        parts = [self.function(tokens[i : i + MAX_BATCH]) for i in range(0, len(tokens), MAX_BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.pre.labels)), dtype=np.float32)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Decoded:
        if content_type == ct.JSONLINES:
            codecs.check_records(codecs.count_lines(body), self.limits, "JSON lines")
        try:
            lines = self.code.parse_body(body, content_type)
        except self.code.PayloadError as exc:
            raise InvalidPayloadError(str(exc)) from None
        codecs.check_records(sum(len(line.texts) for line in lines), self.limits, "texts")
        codecs.check_chars(sum(len(t) for line in lines for t in line.texts), self.limits)
        return Decoded(lines, content_type)

    def predict(self, request: Decoded) -> Predicted:
        texts, line_of, batched = self.code.layout(request.lines)
        answers = self.code.answers(self.pre, line_of, batched, self.probabilities(texts))
        return Predicted(answers, request.content_type)

    def encode(self, outputs: Predicted, accept: str) -> bytes:
        body, _ = self.code.encode_answers(outputs.answers, accept, outputs.content_type)
        return body


def app() -> Starlette:
    return server.app_from_environ(TextHandler.load)
