"""The built-in model's handler (decode -> predict -> encode) for the three request and response types."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import chainer
import numpy as np
from chainer import serializers

from chainer_mnist import model as model_lib
from chainer_mnist.data import as_images
from sm_contract import codecs
from sm_contract import content_types as ct
from sm_contract.environment import RequestLimits, ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError

logger = logging.getLogger(__name__)

MODEL_FILE = "model.npz"
SPEC_FILE = "model.json"
# From this many images on, one matrix product for all of them is cheaper than one matrix-vector product per image.
# Below it OpenBLAS's sgemm costs more than the products it replaces (the MLP, one BLAS thread: 2 images 1.3-1.5 ms
# against 0.4-0.5 ms for one; 4 images 0.3-0.45 ms per image; 8 images 0.2 ms per image).
GEMM_MIN_ROWS = 4


def _json_images(value: Any, limits: RequestLimits) -> np.ndarray:
    instances = value.get("instances", value.get("inputs")) if isinstance(value, dict) else value
    if not isinstance(instances, list) or not instances:
        raise InvalidPayloadError('JSON body must be {"instances": [image, ...]} or a non-empty list of images')
    single = isinstance(instances[0], int | float)  # one flat image rather than a list of images
    codecs.check_records(1 if single else len(instances), limits, "images")
    try:
        array = np.asarray(instances)
    except ValueError as exc:  # ragged nesting
        raise InvalidPayloadError(f"images in the JSON body have inconsistent shapes: {exc}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InvalidPayloadError("JSON images must be nested lists of numbers of one shape")
    if array.ndim == 1 and array.shape[0] == 28 * 28:
        array = array[np.newaxis]  # a single flat image instead of a list of images
    return array


def _csv_images(body: bytes, limits: RequestLimits) -> np.ndarray:
    codecs.check_lines(body, limits, "CSV lines")
    array = codecs.load_csv(body)
    # Integral values above 1 are 0-255 pixels written as text.
    if array.size and array.max() > 1.0 and np.array_equal(array, np.round(array)):
        return array.astype(np.int64)
    return array


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``model.npz``, numbers only.

    Chainer's ``load_npz`` opens the file with ``allow_pickle=True``, so an object array in a model would be
    unpickled, that is, run as code, when the server starts. Weights never need pickle: such a model is refused.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{path} is not a readable .npz file: {exc}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ModelLoadError(f"{path} is a single array, not a .npz file of named weights")
    with npz:
        return {name: _numeric(npz, name, path) for name in npz.files}


def _numeric(npz: Any, name: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(npz[name])
    except ValueError as exc:  # an object array: NumPy would need pickle to read it
        raise ModelLoadError(
            f"{path} holds {name!r} as Python objects ({exc}); a model must hold numeric arrays only, "
            "and its objects are never unpickled (that would run code from the model)"
        ) from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{path}: {name!r} is unreadable: {exc}") from None


class MnistHandler:
    content_types = (ct.JSON, ct.NPY, ct.CSV)
    accept_types = (ct.JSON, ct.CSV, ct.NPY)
    runs_on_event_loop = True  # NumPy and Chainer only, never a call back into the server
    predicts_batches = True  # images along the first axis, predicted row by row: concurrent requests predict at once

    def __init__(self, classifier: chainer.Chain, spec: model_lib.ModelSpec, limits: RequestLimits) -> None:
        self.classifier = classifier
        self.spec = spec
        self.limits = limits

    @classmethod
    def load(cls, env: ServingEnv) -> MnistHandler:
        model_dir = env.model_dir
        weights, spec_file = model_dir / MODEL_FILE, model_dir / SPEC_FILE
        if not weights.is_file():
            present = sorted(p.name for p in model_dir.iterdir())[:10] if model_dir.is_dir() else []
            raise ModelLoadError(f"{weights} not found (model dir holds: {', '.join(present) or 'nothing'})")
        # model.json is optional so that a model.npz from the tutorial's own script (the MLP) loads too.
        spec = model_lib.ModelSpec.load(spec_file) if spec_file.is_file() else model_lib.ModelSpec()
        classifier = model_lib.build(spec)
        arrays = load_weights(weights)
        try:
            serializers.NpzDeserializer(arrays).load(classifier)
        except (KeyError, ValueError) as exc:
            raise ModelLoadError(f"{weights} does not match a {spec.model} with {spec.units} units: {exc}") from exc
        handler = cls(classifier, spec, env.limits)
        handler.predict(np.zeros((1, 28 * 28), dtype=np.float32))  # warm-up: first call allocates
        logger.info("loaded %s model (%d units) from %s", spec.model, spec.units, model_dir)
        return handler

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> np.ndarray:
        if content_type == ct.NPY:
            shape, _ = codecs.npy_header(body)
            if len(shape) > 1:
                codecs.check_records(shape[0], self.limits, "images")
            raw = codecs.load_npy(body)
        elif content_type == ct.CSV:
            raw = _csv_images(body, self.limits)
        else:
            raw = _json_images(codecs.load_json(body), self.limits)
        try:
            return as_images(raw)
        except ValueError as exc:
            raise InvalidPayloadError(str(exc)) from None

    def predict(self, images: np.ndarray) -> np.ndarray:
        if 1 < len(images) < GEMM_MIN_ROWS:  # one matrix-vector product per image: cheaper for so few
            return np.concatenate([model_lib.predict_proba(self.classifier, image[np.newaxis]) for image in images])
        return model_lib.predict_proba(self.classifier, images)

    def encode(self, probabilities: np.ndarray, accept: str) -> bytes:
        labels = probabilities.argmax(axis=1)
        if accept == ct.NPY:
            return codecs.dump_npy(probabilities.astype(np.float32))
        if accept == ct.CSV:
            return codecs.dump_csv_column(labels.tolist())
        rounded = np.round(probabilities.astype(np.float64), 6)  # rows written by the JSON encoder as they are
        predictions = [{"label": k, "probabilities": p} for k, p in zip(labels.tolist(), rounded, strict=True)]
        return codecs.dump_json({"predictions": predictions})
