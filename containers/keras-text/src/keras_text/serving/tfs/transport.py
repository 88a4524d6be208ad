"""``requests`` calls to the REST port, answered in process: a handler's ``requests.post(context.rest_uri, …)``
reaches the REST API without a network hop.

Every ``requests.Session`` (``requests.post`` makes one per call) gets a transport adapter mounted for
``http://localhost:<port>/`` and ``http://127.0.0.1:<port>/``, requests' own way to route a URL prefix. Any other
client (urllib, a raw socket) reaches the same API over the REST port, which the server also listens on.

One model handler answers every model name on its port, or, in a multi-model container, each loaded model
answers its own name (``/v1/models/<name>...``) until it is unloaded; an unknown name gets TF Serving's 404.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict

RestCall = Callable[[str, bytes], tuple[int, bytes]]
API_PREFIX = "/v1/models/"
# The status of the last in-process REST call of this thread: tells a handler's failure apart from the model's.
last_status = threading.local()
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 500: "Internal Server Error"}
_MODEL = re.compile(r"^/v1/models/([^/:]+)")
_installed: dict[int, dict[str | None, RestCall]] = {}  # port -> {model name, or None for any name: call}
_original_init = requests.Session.__init__


def response(url: str, status: int, content: bytes, headers: Mapping[str, str] | None = None) -> requests.Response:
    """A ``requests.Response`` as the HTTP call would have returned it (what ``output_handler`` receives)."""
    answer = requests.Response()
    answer.status_code = status
    answer.reason = _REASONS.get(status, "")
    answer._content = content
    answer.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
    answer.url = url
    answer.encoding = "utf-8"
    return answer


class InProcessAdapter(BaseAdapter):  # type: ignore[misc]
    """TF Serving API paths (``/v1/models/…``) in process; anything else on that port over HTTP as usual."""

    def __init__(self, call: RestCall) -> None:
        super().__init__()
        self._call = call
        self._http = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if not urlsplit(request.url or "").path.startswith(API_PREFIX):
            return self._http.send(request, **kwargs)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file or generator body
            body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in body)
        status, content = self._call(urlsplit(request.url or "").path, body)
        last_status.value = status
        answer = response(request.url or "", status, content)
        answer.request = request
        return answer

    def close(self) -> None:
        self._http.close()


def model_of(path: str) -> str:
    """The model name of a REST API path (``/v1/models/<name>[/versions/<v>][:method]``)."""
    match = _MODEL.match(path)
    return match.group(1) if match else ""


def not_found(name: str) -> dict[str, str]:
    """TF Serving's answer (with 404) for a model it does not serve."""
    return {"error": f"Servable not found for request: Latest({name})"}


def dispatch(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """The call of the model ``path`` names on ``port``, as it is installed now."""
    calls = _installed.get(port, {})
    name = model_of(path)
    call = calls.get(name) or calls.get(None)
    if call is None:
        return 404, json.dumps(not_found(name)).encode()
    return call(path, body)


def _init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    for port in _installed:
        for host in ("localhost", "127.0.0.1"):
            self.mount(f"http://{host}:{port}/", InProcessAdapter(functools.partial(dispatch, port)))


def install(port: int, call: RestCall, model: str | None = None) -> None:
    """Route ``http://localhost:<port>/`` and ``http://127.0.0.1:<port>/`` of every new session to ``call``: for
    every model name, or for ``model`` alone."""
    _installed.setdefault(port, {})[model] = call
    requests.Session.__init__ = _init  # type: ignore[method-assign]


def uninstall(port: int, model: str | None = None) -> None:
    """``model``'s route (an unloaded model): its name then gets TF Serving's 404."""
    _installed.get(port, {}).pop(model, None)
