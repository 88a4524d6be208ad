"""A ``model.tar.gz`` made for AWS's TF Serving container, served as that container serves it, without TF Serving.

``code/inference.py`` with ``handler(data, context)`` or ``input_handler`` + ``output_handler`` is called exactly
as the container's Python service calls it (``data`` a readable stream, ``context`` the container's ``Context``),
``code/lib/`` is on ``sys.path``; without ``inference.py`` the container's own JSON / JSON Lines / CSV handling
applies. The TF Serving REST API the handlers talk to runs in this process (:mod:`rest`); a ``requests`` call
to ``context.rest_uri`` never leaves it (:mod:`transport`), and any other HTTP client reaches the same API on
the REST port. In a multi-model container each model is its folder's ``<version>/`` SavedModel under the name
SageMaker loaded it as, which its ``context.rest_uri`` names whatever ``tfs-model-name`` says, as AWS's container
does. Errors are ``{"error": "..."}``: 4xx when the request is at fault (an exception from
``input_handler``, a ValueError / LookupError / TypeError, a 4xx from the REST API, or an exception whose
``status_code`` attribute names a 4xx), 500 otherwise (AWS's container answers 500 to every handler exception).
"""

from __future__ import annotations

import collections
import importlib.util
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from keras_text.serving.tfs import CODE, caps, rest, transport
from keras_text.serving.tfs.caps import JSONS
from keras_text.serving.tfs.models import Registry
from sm_contract import codecs
from sm_contract import content_types as ct
from sm_contract.environment import RequestLimits, ServingEnv
from sm_contract.errors import ModelLoadError, RequestError

logger = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
INFERENCE = "inference"  # the module name code/inference.py is imported as (the container's too)
_ATTRIBUTE = re.compile(r"(tfs-[a-z\-]+=[^,]+)")
_TFS_JSON = re.compile(r'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(r"[}\]]\s*[\[{]")

# The fields and order of the container's ``tfs_utils.Context``.
Context = collections.namedtuple(
    "Context",
    "model_name, model_version, method, rest_uri, grpc_port, channel, "
    "custom_attributes, request_content_type, accept_header, content_length",
)


class TfsError(RequestError):
    """An answer in the container's error format, ``{"error": message}``, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status

    def body(self) -> dict[str, str]:
        return {"error": self.detail}


@dataclass(frozen=True)
class Pending:
    data: io.BytesIO
    context: Any
    path: str  # the REST path of context.rest_uri


def attributes(header: str | None) -> dict[str, str]:
    """``tfs-model-name=…,tfs-model-version=…,tfs-method=…`` from the custom attributes header."""
    return dict(item.split("=", 1) for item in _ATTRIBUTE.findall(header or ""))


def rest_path(attrs: Mapping[str, str], default_model: str, model_name: str | None = None) -> str:
    """The REST path a request goes to; ``model_name`` (a multi-model container's) wins over the attributes."""
    path = f"/v1/models/{model_name or attrs.get('tfs-model-name', default_model)}"
    if attrs.get("tfs-model-version"):
        path += f"/versions/{attrs['tfs-model-version']}"
    return f"{path}:{attrs.get('tfs-method', 'predict')}"


def import_inference(
    code_dir: Path,
) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None, Callable[..., Any] | None]:
    """``(handler, input_handler, output_handler)`` of ``code/inference.py``; one style only, as the container."""
    lib = code_dir / "lib"
    for folder in (lib, code_dir):
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(INFERENCE, code_dir / "inference.py")
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {code_dir / 'inference.py'}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"importing code/inference.py failed: {type(exc).__name__}: {exc}") from exc
    if callable(getattr(module, "handler", None)):
        return module.handler, None, None
    if callable(getattr(module, "input_handler", None)) and callable(getattr(module, "output_handler", None)):
        return None, module.input_handler, module.output_handler
    raise ModelLoadError("code/inference.py defines neither handler nor input_handler and output_handler")


def default_tfs_body(body: bytes, content_type: str) -> bytes:
    """The container's handling without inference.py: the TF Serving request a body becomes."""
    text = codecs.text(body)
    if content_type in (ct.JSON, ct.JSONLINES, JSONS):
        if _TFS_JSON.search(text):
            return body
        if _JSON_LINES.search(text):
            lines = [line.strip(codecs.BLANK) for _, line in codecs.lines(text)]
            return (
                ('{"instances":[' + ",".join(lines) + "]}").encode()
                if len(lines) > 1
                else f'{{"instances":{lines[0]}}}'.encode()
            )
        data = text if re.match(r"^\s*\[\s*\[", text) else f"[{text}]"
        return ('{"instances":' + data + "}").encode()
    if content_type == ct.CSV:
        return _csv_body(text)
    raise TfsError(415, f"Unsupported Media Type: {content_type or 'Unknown'}")


def _csv_body(text: str) -> bytes:
    """One instance per line; non-numeric first fields are quoted, several columns become a list."""
    needs_quotes = re.search(r"^\s*(\"|[\d.Ee+\-]+.*)", text) is None
    rows = []
    for line in (line.strip(codecs.BLANK) for _, line in codecs.lines(text)):
        value = '"' + line.replace('"', '\\"').replace(",", '","') + '"' if needs_quotes else line
        rows.append(f"[{value}]" if "," in line else value)
    return ('{"instances":[' + ",".join(rows) + "]}").encode()


def _answer_type(accept: str) -> str:
    types = [t.strip() for t in accept.split(",")]
    return types[0] if any(t in (ct.JSON, ct.JSONLINES) for t in types) else ct.JSON


class TfsHandler:
    """The sm_contract model handler for a TF Serving artifact (our own model is one, too)."""

    content_types = (ct.ANY,)  # inference.py decides what it reads; without it, JSON, JSON Lines and CSV
    accept_types = (ct.ANY,)

    def __init__(self, registry: Registry, code: tuple[Any, Any, Any] | None, env: ServingEnv, rest_port: int) -> None:
        self.registry, self.env, self.rest_port = registry, env, rest_port
        self.model_name = env.model_name  # a multi-model container's name for the model, else None
        self.handler, self.input_handler, self.output_handler = code or (None, None, None)
        self.limits: RequestLimits = env.limits

    @classmethod
    def load(cls, env: ServingEnv, rest_port: int) -> TfsHandler:
        code_dir = env.model_dir / CODE
        try:
            registry = Registry.load(env.model_dir, env.environ, env.model_name)
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from None
        code = import_inference(code_dir) if (code_dir / "inference.py").is_file() else None
        handler = cls(registry, code, env, rest_port)
        transport.install(rest_port, handler.call_rest, env.model_name)
        logger.info(
            "serving models %s (default %s) %s",
            sorted(registry.models),
            registry.default,
            "through code/inference.py" if code else "with the container's default handling",
        )
        return handler

    def close(self) -> None:
        """Unloaded from a multi-model container: its REST route and its code's folders on sys.path go."""
        transport.uninstall(self.rest_port, self.model_name)
        code_dir = self.env.model_dir / CODE
        for folder in (str(code_dir / "lib"), str(code_dir)):
            while folder in sys.path:
                sys.path.remove(folder)
        module = sys.modules.get(INFERENCE)
        if module is not None and getattr(module, "__file__", None) == str(code_dir / "inference.py"):
            del sys.modules[INFERENCE]  # the last model imported: its module (and what it caches) goes with it

    def call_rest(self, path: str, body: bytes) -> tuple[int, bytes]:
        """TF Serving's REST API in process; the request's records were counted when it arrived."""
        status, answer = rest.handle(self.registry, path, body)
        return status, codecs.dump_json(answer)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Pending:
        """Custom attributes, Content-Type, Accept and Content-Length go into the handlers' context."""
        caps.check(body, content_type, self.limits)  # records and text counted before any handler runs
        attrs = attributes(headers.get(CUSTOM_ATTRIBUTES))
        path = rest_path(attrs, self.registry.default, self.model_name)
        context = Context(
            self.model_name or attrs.get("tfs-model-name"),
            attrs.get("tfs-model-version"),
            attrs.get("tfs-method"),
            f"http://localhost:{self.rest_port}{path}",
            None,  # no gRPC: TF Serving's gRPC API is not offered
            None,
            headers.get(CUSTOM_ATTRIBUTES),
            headers.get("content-type") or ct.JSON,
            headers.get("accept") or ct.JSON,
            int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None,
        )
        return Pending(io.BytesIO(body), context, path)

    def predict(self, pending: Pending) -> tuple[bytes, str]:
        context = pending.context
        transport.last_status.value = 200
        if self.handler is not None:
            return self._call(self.handler, pending, "handler")
        if self.input_handler is not None:
            request = self._call(self.input_handler, pending, "input_handler", client_fault=True)
            status, content = self.call_rest(pending.path, _bytes(request))
            transport.last_status.value = status
            response = transport.response(context.rest_uri, status, content)
            return self._call(lambda _d, c: self.output_handler(response, c), pending, "output_handler")  # type: ignore[misc]
        body = default_tfs_body(pending.data.read(), context.request_content_type.split(";")[0].strip().lower())
        status, answer = self.call_rest(pending.path, body)
        if status != 200:
            raise (
                TfsError(status, json.loads(answer).get("error", "")) if status < 500 else RuntimeError(answer.decode())
            )
        return answer, _answer_type(context.accept_header)

    def _call(self, function: Callable[..., Any], pending: Pending, name: str, *, client_fault: bool = False) -> Any:
        try:
            return function(pending.data, pending.context)
        except RequestError:
            raise
        except Exception as exc:
            status = transport.last_status.value
            chosen = getattr(exc, "status_code", None)
            if isinstance(chosen, int) and 400 <= chosen < 500:  # the handler names the status (our own model does)
                raise TfsError(chosen, str(exc) or type(exc).__name__) from None
            if client_fault or 400 <= status < 500:
                raise TfsError(status if 400 <= status < 500 else 400, str(exc) or type(exc).__name__) from None
            if isinstance(exc, ValueError | LookupError | TypeError):  # the handler found the request unusable
                raise TfsError(400, str(exc) or type(exc).__name__) from None
            logger.exception("%s failed", name)
            raise

    def encode(self, result: Any, accept: str) -> tuple[bytes, str]:
        if isinstance(result, tuple) and len(result) == 2:
            payload, content_type = result
        else:
            payload, content_type = result, ct.JSON
        return _bytes(payload), str(content_type)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return codecs.dump_json(value)
