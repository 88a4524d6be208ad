"""TF Serving's REST API, answered in process: predict, classify and regress, with TF Serving's JSON and errors.

``POST /v1/models/<name>[/versions/<v>]:predict`` takes the row format ``{"instances": [...]}`` (values, or
objects keyed by input name) or the columnar ``{"inputs": value | {name: value}}``, plus an optional
``signature_name``; it answers ``{"predictions": [...]}`` or ``{"outputs": ...}``. ``:classify`` and ``:regress``
take ``{"examples": [{feature: value}, ...]}`` (serialized to ``tf.train.Example`` for the signature). Errors are
``{"error": "..."}`` with TF Serving's HTTP statuses (INVALID_ARGUMENT 400, NOT_FOUND 404, INTERNAL 500).
Binary values travel as ``{"b64": "..."}``; outputs whose name ends in ``_bytes`` are sent that way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_text.serving.tfs.examples import classify_results, serialized_examples
from keras_text.serving.tfs.models import CLASSIFY, REGRESS, NotFoundError, Registry, Signature
from keras_text.serving.tfs.values import RestError, bad, finite, jsonable, stack, to_tensor

PATH = re.compile(r"(?i)^/v1/models/([^/:]+)(?:/versions/(\d+))?:(classify|regress|predict)$")
STATUS_PATH = re.compile(r"(?i)^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata)?$")
MAX_VERSION = 2**63 - 1  # TF Serving's versions are int64


def row_feeds(instances: Any, signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise bad("Expecting 'instances' to be a non-empty list/array")
    if all(isinstance(item, dict) and "b64" not in item for item in instances):
        missing = [n for n in signature.inputs if any(n not in item for item in instances)]
        if missing:
            raise bad(f"Failed to process element: each instance needs the key(s) {missing}")
        return {n: stack([item[n] for item in instances], spec, f"input '{n}'") for n, spec in signature.inputs.items()}
    if len(signature.inputs) != 1:
        names = ", ".join(sorted(signature.inputs))
        raise bad(f"The signature has {len(signature.inputs)} inputs ({names}): send each instance as an object")
    ((name, spec),) = signature.inputs.items()
    return {name: stack(instances, spec, f"input '{name}'")}


def columnar_feeds(inputs: Any, signature: Signature) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        unknown = sorted(set(inputs) - set(signature.inputs))
        missing = sorted(set(signature.inputs) - set(inputs))
        if unknown or missing:
            raise bad(f"'inputs' must name the signature's inputs: missing {missing}, unknown {unknown}")
        return {n: to_tensor(inputs[n], spec, f"input '{n}'") for n, spec in signature.inputs.items()}
    if len(signature.inputs) != 1:
        raise bad(f"The signature has {len(signature.inputs)} inputs: 'inputs' must be an object keyed by name")
    ((name, spec),) = signature.inputs.items()
    return {name: to_tensor(inputs, spec, f"input '{name}'")}


# ---- tensors -> JSON ---------------------------------------------------------------------------------------------
def row_response(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return {"predictions": jsonable(array, name)}
    sizes = {a.shape[0] if a.ndim else None for a in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        raise bad("The outputs do not share the batch dimension; use the columnar 'inputs' format")
    columns = {name: jsonable(array, name) for name, array in outputs.items()}
    size = sizes.pop() or 0
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(size)]}


def columnar_response(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return {"outputs": jsonable(array, name)}
    return {"outputs": {name: jsonable(array, name) for name, array in outputs.items()}}


@dataclass(frozen=True)
class Call:
    model: str
    version: int | None
    method: str


def parse_path(path: str) -> Call:
    match = PATH.match(path)
    if match is None:
        raise RestError(404, f"Malformed request: {path}")
    return Call(match.group(1), version(match.group(2)), match.group(3).lower())


def version(digits: str | None) -> int | None:
    """A path's version number; more than int64 holds is a 400, as TF Serving's conversion fails."""
    if digits is None:
        return None
    number = int(digits) if len(digits.lstrip("0")) <= len(str(MAX_VERSION)) else MAX_VERSION + 1
    if number > MAX_VERSION:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
        raise bad(f"Failed to convert version: {shown} is not a 64-bit integer")
    return number


def handle(registry: Registry, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """``(status, JSON body)`` of a REST call, as TF Serving would answer it."""
    try:
        call = parse_path(path)
        request = _request(body)
        servable = registry.get(call.model, call.version)
        signature = servable.signature(request.get("signature_name"))
        if call.method == "predict":
            return 200, _predict(servable, request, signature)
        expected = CLASSIFY if call.method == "classify" else REGRESS
        if signature.method != expected:
            raise bad(f"Expected {call.method} signature method_name to be {expected}. Was: {signature.method}")
        feeds = {next(iter(signature.inputs)): serialized_examples(request.get("examples"), request.get("context"))}
        outputs = servable.run(request.get("signature_name"), feeds)
        if call.method == "classify":
            return 200, {"results": classify_results(outputs)}
        (values,) = outputs.values()
        return 200, {"results": finite(np.asarray(values).reshape(-1).tolist())}
    except RestError as exc:
        return exc.status, {"error": exc.message}
    except NotFoundError as exc:
        return 404, {"error": str(exc)}
    except Exception as exc:  # the graph refused the inputs: TF Serving reports INVALID_ARGUMENT
        import tensorflow as tf

        if isinstance(exc, tf.errors.InvalidArgumentError | tf.errors.FailedPreconditionError | ValueError):
            return 400, {"error": _first_line(exc)}
        raise


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.strip().split("\n")[0] if message.strip() else type(exc).__name__


def _request(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise bad(f"JSON Parse error: {exc}") from None
    if not isinstance(request, dict):
        raise bad("JSON Value: the request must be a JSON object")
    if not isinstance(request.get("signature_name", ""), str):
        raise bad("'signature_name' must be a string")
    return request


def _predict(servable: Any, request: Mapping[str, Any], signature: Signature) -> dict[str, Any]:
    if ("instances" in request) == ("inputs" in request):
        raise bad(
            "Missing 'inputs' or 'instances' keys"
            if "instances" not in request
            else "Not both 'instances' and 'inputs'"
        )
    if "instances" in request:
        outputs = servable.run(request.get("signature_name"), row_feeds(request["instances"], signature))
        return row_response(outputs)
    outputs = servable.run(request.get("signature_name"), columnar_feeds(request["inputs"], signature))
    return columnar_response(outputs)


def status_body(registry: Registry, path: str) -> tuple[int, dict[str, Any]]:
    """``GET /v1/models/<name>[/versions/<v>]``: the versions and their state; ``/metadata``: the signatures."""
    match = STATUS_PATH.match(path)
    if match is None:
        return 404, {"error": f"Malformed request: GET {path}"}
    try:
        name, number = match.group(1), version(match.group(2))
        if match.group(3):
            servable = registry.get(name, number)
            signatures = {
                key: {
                    "method_name": sig.method,
                    "inputs": {k: {"name": t.name, "shape": t.shape} for k, t in sig.inputs.items()},
                    "outputs": {k: {"name": t.name, "shape": t.shape} for k, t in sig.outputs.items()},
                }
                for key, sig in servable.signatures.items()
            }
            return 200, {
                "model_spec": {"name": name, "version": str(servable.version)},
                "metadata": {"signature_def": signatures},
            }
        versions = (
            [registry.get(name, number)]
            if number is not None
            else [registry.get(name, v) for v in sorted(registry.models.get(name, {}))]
        )
        if not versions:
            raise NotFoundError(f"Servable not found for request: Latest({name})")
        ok = {"error_code": "OK", "error_message": ""}
        return 200, {
            "model_version_status": [{"version": str(s.version), "state": "AVAILABLE", "status": ok} for s in versions]
        }
    except RestError as exc:
        return exc.status, {"error": exc.message}
    except NotFoundError as exc:
        return 404, {"error": str(exc)}
