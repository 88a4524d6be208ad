"""keras-text's server: any TF Serving ``model.tar.gz`` (our own model is one), plus TF Serving's REST API routes.

In a multi-model container the REST API serves every loaded model under the name SageMaker loaded it as
(``/v1/models/<model_name>...``); a name not loaded gets TF Serving's 404.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keras_text.serving.tfs import caps, rest, transport
from keras_text.serving.tfs.handlers import TfsError, TfsHandler
from sm_contract import content_types as ct
from sm_contract.environment import ServingEnv
from sm_contract.errors import RequestError
from sm_contract.gate import Gate
from sm_contract.multi_model import handler_for
from sm_contract.serving import invoke_handler


def load(env: ServingEnv) -> TfsHandler:
    return TfsHandler.load(env, env.rest_port)


class RestCall:
    """A POST to TF Serving's REST API as a model handler, so it takes ``/invocations``' whole path: the payload
    limit, the record and text caps, the worker's gate (queue, one deadline, model threads) and its errors."""

    content_types = accept_types = (ct.ANY,)  # TF Serving reads JSON whatever the headers say

    def __init__(self, handler: TfsHandler, path: str) -> None:
        self.handler, self.path = handler, path

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> bytes:
        caps.check(body, ct.JSON, self.handler.limits)
        return body

    def predict(self, body: bytes) -> bytes:
        status, content = self.handler.call_rest(self.path, body)
        if status != 200:  # the REST API's own answer: TF Serving's status and {"error": ...}
            raise TfsError(status, json.loads(content).get("error", ""))
        return content

    def encode(self, content: bytes, accept: str) -> tuple[bytes, str]:
        return content, ct.JSON


async def _rest(request: Request) -> Response:
    """TF Serving's REST API (predict, classify, regress; model status and metadata)."""
    name = transport.model_of(request.url.path)
    try:
        handler: TfsHandler | None = handler_for(request, name)
    except RequestError:  # a multi-model container without that model
        return JSONResponse(transport.not_found(name), status_code=404)
    if handler is None:
        return JSONResponse({"error": "model not loaded"}, status_code=503)
    if request.method == "GET":  # no body, and a few dictionary look-ups: answered on the event loop
        status, body = rest.status_body(handler.registry, request.url.path)
        return JSONResponse(body, status_code=status)
    gate = _rest_gate(request, handler.env)
    return await invoke_handler(request, handler.env, RestCall(handler, request.url.path), gate)


def _rest_gate(request: Request, env: ServingEnv) -> Gate:
    """The REST API's own gate in this worker, as /invocations' (one model thread, the same queue size and timeout):
    a handler calling the REST port over HTTP holds /invocations' gate while it waits for this one."""
    state = request.app.state
    if getattr(state, "rest_gate", None) is None:
        state.rest_gate = Gate(1, env.queue_size, env.timeout_s)
    gate: Gate = state.rest_gate
    return gate


ROUTES = [Route("/v1/models/{rest:path}", _rest, methods=["GET", "POST"])]
