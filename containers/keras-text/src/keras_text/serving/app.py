"""keras-text's server: any TF Serving ``model.tar.gz`` (our own model is one), plus TF Serving's REST API routes."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keras_text.serving.tfs import rest
from keras_text.serving.tfs.handlers import TfsHandler
from sm_contract.environment import ServingEnv


def load(env: ServingEnv) -> TfsHandler:
    return TfsHandler.load(env, env.rest_port)


async def _rest(request: Request) -> Response:
    """TF Serving's REST API (predict, classify, regress; model status and metadata)."""
    handler: TfsHandler | None = getattr(request.state, "handler", None)
    if handler is None:
        return JSONResponse({"error": "model not loaded"}, status_code=503)
    if request.method == "GET":
        status, body = rest.status_body(handler.registry, request.url.path)
        return JSONResponse(body, status_code=status)
    payload = await request.body()
    status, content = await anyio.to_thread.run_sync(handler.call_rest, request.url.path, payload)
    return Response(content, status_code=status, media_type="application/json")


ROUTES = [Route("/v1/models/{rest:path}", _rest, methods=["GET", "POST"])]
