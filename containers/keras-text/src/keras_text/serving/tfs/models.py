"""The SavedModels of a TF Serving ``model.tar.gz``: found as TF Serving finds them, run through their signatures.

``/opt/ml/model/<version>/saved_model.pb`` is the model ``model``; ``/opt/ml/model/<name>/<version>/`` a named one.
Every SavedModel, TF2 or TF1 (``simple_save``), loads into its own ``tf.compat.v1`` session and runs a signature
through a session callable that feeds and fetches by tensor name. That is how TF Serving feeds too: without
Python's static-shape check, so a TF1 graph declaring ``(None, 1)`` accepts what TF Serving accepts.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "model"  # TF Serving's name for /opt/ml/model/<version>/
DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MODEL_VAR = "SAGEMAKER_TFS_DEFAULT_MODEL_NAME"
SAVED_MODEL = "saved_model.pb"
PREDICT, CLASSIFY, REGRESS = (f"tensorflow/serving/{m}" for m in ("predict", "classify", "regress"))
_VERSION = re.compile(r"^\d+$")


class NotFoundError(LookupError):
    """An unknown model or version (TF Serving: NOT_FOUND, HTTP 404)."""


class SignatureNotFoundError(ValueError):
    """An unknown signature (TF Serving: FAILED_PRECONDITION, HTTP 400)."""


@dataclass(frozen=True)
class TensorSpec:
    name: str  # the tensor in the graph, e.g. "serving_default_tokens:0"
    dtype: np.dtype[Any]
    shape: tuple[int, ...] | None  # -1 for unknown dimensions; None for unknown rank
    is_string: bool


@dataclass(frozen=True)
class Signature:
    method: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]


@dataclass
class Servable:
    """One version of one model, loaded, ready to run any of its signatures."""

    name: str
    version: int
    path: Path
    signatures: Mapping[str, Signature]
    _session: Any = field(repr=False)
    _callables: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def signature(self, name: str | None) -> Signature:
        key = name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            known = ", ".join(sorted(self.signatures)) or "none"
            raise SignatureNotFoundError(f'Serving signature key "{key}" not found (signatures: {known})')
        return self.signatures[key]

    def run(self, signature_name: str | None, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the signature for the given inputs (by signature names)."""
        signature = self.signature(signature_name)
        names = tuple(sorted(feeds))
        key = (signature_name or DEFAULT_SIGNATURE, names)
        with self._lock:
            run = self._callables.get(key)
            if run is None:
                run = self._callables[key] = self._make_callable(signature, names)
        fetched = run(*(feeds[name] for name in names))
        return dict(zip(sorted(signature.outputs), fetched, strict=True))

    def _make_callable(self, signature: Signature, names: Sequence[str]) -> Callable[..., Any]:
        from tensorflow.core.protobuf import config_pb2

        options = config_pb2.CallableOptions()
        options.feed.extend(signature.inputs[name].name for name in names)
        options.fetch.extend(signature.outputs[name].name for name in sorted(signature.outputs))
        return self._session._make_callable_from_options(options)  # type: ignore[no-any-return]


def _spec(info: Any) -> TensorSpec:
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype)
    shape = None if info.tensor_shape.unknown_rank else tuple(int(d.size) for d in info.tensor_shape.dim)
    is_string = dtype == tf.string
    return TensorSpec(info.name, np.dtype(object) if is_string else np.dtype(dtype.as_numpy_dtype), shape, is_string)


def _clear_devices(saved_model: Any) -> None:
    """Drop device placements, in the graph and in every function: a model saved inside a distribution strategy
    pins its ops to devices like /job:worker/task:0 that a serving process does not have."""
    for meta in saved_model.meta_graphs:
        for node in meta.graph_def.node:
            node.device = ""
        for function in meta.graph_def.library.function:
            for node in function.node_def:
                node.device = ""


def load(name: str, version: int, path: Path) -> Servable:
    """A SavedModel in a session of its own (TF1 and TF2 ones alike), with its signature defs."""
    import tensorflow as tf
    from tensorflow.python.saved_model import loader_impl  # the loader, to edit the parsed SavedModel first

    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    loader = loader_impl.SavedModelLoader(str(path))
    _clear_devices(loader.saved_model)
    with graph.as_default():
        meta = loader.load(session, [tf.saved_model.SERVING])
    signatures = {
        key: Signature(
            sig.method_name or PREDICT,
            {k: _spec(v) for k, v in sig.inputs.items()},
            {k: _spec(v) for k, v in sig.outputs.items()},
        )
        for key, sig in meta.signature_def.items()
        if not key.startswith("__")  # e.g. "__saved_model_init_op"
    }
    logger.info("loaded model %s version %d from %s (signatures %s)", name, version, path, sorted(signatures))
    return Servable(name, version, path, signatures, session)


def find(model_dir: Path) -> dict[str, dict[int, Path]]:
    """``{model name: {version: folder}}`` for every ``<digits>/saved_model.pb`` below ``model_dir``."""
    found: dict[str, dict[int, Path]] = {}
    for root, dirs, files in os.walk(model_dir):
        dirs.sort()
        folder = Path(root)
        if SAVED_MODEL in files and _VERSION.match(folder.name) and folder.parent.is_relative_to(model_dir):
            name = DEFAULT_MODEL if folder.parent == model_dir else folder.parent.name
            found.setdefault(name, {})[int(folder.name)] = folder  # leading zeros dropped, as TF Serving does
    return found


@dataclass
class Registry:
    """Every model and version of the artifact; the default model, and each model's latest version."""

    models: Mapping[str, Mapping[int, Servable]]
    default: str

    @classmethod
    def load(cls, model_dir: Path, environ: Mapping[str, str], named: str | None = None) -> Registry:
        """Every model under ``model_dir``; with ``named``, the ``<version>/`` model alone, under that name (a
        multi-model container's model: AWS's container gives TF Serving its folder as the model's base path)."""
        found = find(model_dir)
        if named is not None and found:
            if DEFAULT_MODEL not in found:
                raise FileNotFoundError(
                    f"a multi-model container serves the <version>/saved_model.pb at the top of {model_dir}, which "
                    f"holds named models only ({', '.join(sorted(found))})"
                )
            found = {named: found[DEFAULT_MODEL]}
            environ = {DEFAULT_MODEL_VAR: named}
        if not found:
            present = ", ".join(sorted(p.name for p in model_dir.iterdir())[:10]) if model_dir.is_dir() else "nothing"
            raise FileNotFoundError(f"no <version>/saved_model.pb under {model_dir} (it holds: {present})")
        models = {name: {v: load(name, v, path) for v, path in versions.items()} for name, versions in found.items()}
        default = environ.get(DEFAULT_MODEL_VAR) or next(iter(sorted(models)))
        if default not in models:
            raise FileNotFoundError(f"{DEFAULT_MODEL_VAR}={default!r} names no model (found: {', '.join(models)})")
        return cls(models, default)

    def get(self, name: str | None = None, version: int | None = None) -> Servable:
        model = name or self.default
        if model not in self.models:
            raise NotFoundError(f"Servable not found for request: Latest({model})")
        versions = self.models[model]
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise NotFoundError(f"Servable not found for request: Specific({model}, {version})")
        return versions[version]
