"""Serving a user's module: ``model_fn`` and its friends, called the way AWS's Chainer container calls them.

With ``SAGEMAKER_PROGRAM`` on the model, the server imports that module from ``SAGEMAKER_SUBMIT_DIRECTORY`` (an
``s3://`` tarball fetched once at start, a folder, or ``/opt/ml/model/code``) and serves it through our own app
(same /ping, limits, workers and JSON errors). ``model_fn(model_dir)`` is required; ``input_fn(body,
content_type)``, ``predict_fn(data, model)`` and ``output_fn(prediction, accept)`` fall back to the framework's
defaults, or one ``transform_fn(model, body, content_type, accept)`` replaces all three. An exception raised by
``input_fn`` is the client's fault (400 with its message); anything else the module raises is a 500.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sm_contract import codecs
from sm_contract import content_types as ct
from sm_contract.environment import ScriptSettings, ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError, NotAcceptableError, UnsupportedMediaTypeError
from sm_contract.script_mode import model_requirements, user_code

logger = logging.getLogger(__name__)

MODEL_CODE = "code"  # /opt/ml/model/code: where a model.tar.gz may carry its own module
DEFAULT_ACCEPT_VAR = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


# ---- the framework-independent defaults (the old Chainer container's) --------------------------------------------
def default_input_fn(body: bytes, content_type: str) -> Any:
    """JSON (nested lists), CSV (numeric rows) or ``.npy``, as a float32 array for the text formats."""
    if content_type == ct.JSON:
        return np.asarray(codecs.load_json(body), dtype=np.float32)
    if content_type == ct.CSV:
        return codecs.load_csv(body)
    if content_type == ct.NPY:
        return codecs.load_npy(body)
    raise UnsupportedMediaTypeError(
        f"Content-Type '{content_type}' is not supported; use {ct.JSON}, {ct.CSV}, {ct.NPY}"
    )


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    array = np.asarray(prediction)
    if accept == ct.JSON:
        return codecs.dump_json(array.tolist()), ct.JSON
    if accept == ct.CSV:
        rows = array.reshape(len(array), -1) if array.ndim > 0 else array.reshape(1, 1)
        buffer = io.StringIO()
        np.savetxt(buffer, rows, delimiter=",", fmt="%.9g")
        return buffer.getvalue().encode("utf-8"), ct.CSV
    if accept == ct.NPY:
        return codecs.dump_npy(array), ct.NPY
    raise NotAcceptableError(
        f"Accept '{accept}' cannot be met; the default output_fn answers {ct.JSON}, {ct.CSV}, {ct.NPY}"
    )


@dataclass(frozen=True)
class Functions:
    """The module's serving functions, with the defaults filled in."""

    model_fn: Callable[[str], Any]
    input_fn: Callable[[bytes, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]
    transform_fn: Callable[[Any, bytes, str, str], Any] | None = None


def functions(module: ModuleType, defaults: Mapping[str, Callable[..., Any]]) -> Functions:
    model_fn = getattr(module, "model_fn", None)
    if not callable(model_fn):
        raise ModelLoadError(f"{module.__file__} defines no model_fn(model_dir); the server needs it to load the model")

    def pick(name: str) -> Callable[..., Any]:
        found = getattr(module, name, None)
        return found if callable(found) else defaults[name]

    transform = getattr(module, "transform_fn", None)
    return Functions(
        model_fn, pick("input_fn"), pick("predict_fn"), pick("output_fn"), transform if callable(transform) else None
    )


def prepare(settings: ScriptSettings, env: ServingEnv) -> Path:
    """Fetch the module's code and install its requirements (a model's, so checked as one), once, before any
    worker starts."""
    location = settings.submit_directory
    if location is None:
        location = str(env.model_dir / MODEL_CODE)
    code_dir = user_code.fetch(location, env.paths.code_dir, env.environ)
    model_requirements.install(code_dir, env.environ)
    return code_dir


def import_module(code_dir: Path, program: str) -> ModuleType:
    """The user's script imported as a module (its ``if __name__ == "__main__"`` block does not run)."""
    path = code_dir / program if program.endswith(".py") else code_dir / f"{program}.py"
    if not path.is_file():
        raise ModelLoadError(f"SAGEMAKER_PROGRAM {program!r} not found in {code_dir}")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))  # the module's own imports of its neighbours
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    return module


class UserModuleHandler:
    """A :class:`sm_contract.serving.ModelHandler` over a user's module."""

    content_types = (ct.ANY,)  # input_fn decides what it can read
    accept_types = (ct.ANY,)  # output_fn decides what it can write

    def __init__(self, fns: Functions, model: Any, default_accept: str) -> None:
        self.fns, self.model, self.default_accept = fns, model, default_accept

    @classmethod
    def load(cls, env: ServingEnv, defaults: Mapping[str, Callable[..., Any]]) -> UserModuleHandler:
        settings = env.script
        if settings is None:
            raise ModelLoadError("SAGEMAKER_PROGRAM is not set")
        code_dir = Path(settings.submit_directory or env.model_dir / MODEL_CODE)
        fns = functions(import_module(code_dir, settings.program), defaults)
        try:
            model = fns.model_fn(str(env.model_dir))
        except Exception as exc:
            raise ModelLoadError(f"model_fn of {settings.program} failed: {type(exc).__name__}: {exc}") from exc
        logger.info("serving %s from %s (model_fn loaded %s)", settings.program, code_dir, type(model).__name__)
        return cls(fns, model, env.environ.get(DEFAULT_ACCEPT_VAR) or ct.JSON)

    def accept_for(self, accept: str) -> str:
        return self.default_accept if accept in ("", ct.ANY) else accept

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> tuple[bytes, str] | Any:
        if self.fns.transform_fn is not None:
            return body, content_type  # transform_fn reads the body itself
        try:
            return self.fns.input_fn(body, content_type)
        except (InvalidPayloadError, UnsupportedMediaTypeError):
            raise
        except Exception as exc:  # the module could not read the request: the client's fault
            raise InvalidPayloadError(f"input_fn: {type(exc).__name__}: {exc}") from None

    def predict(self, data: Any) -> Any:
        if self.fns.transform_fn is not None:
            return data
        return self.fns.predict_fn(data, self.model)

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        accept = self.accept_for(accept)
        if self.fns.transform_fn is not None:
            body, content_type = prediction
            result = self.fns.transform_fn(self.model, body, content_type, accept)
        else:
            result = self.fns.output_fn(prediction, accept)
        payload, media_type = result if isinstance(result, tuple) else (result, accept)
        if isinstance(payload, str):
            return payload.encode("utf-8"), media_type
        if isinstance(payload, bytes | bytearray):
            return bytes(payload), media_type
        return codecs.dump_json(payload), media_type
