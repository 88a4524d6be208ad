"""Flask app of the baseline: /ping and /invocations around the image's own MnistHandler.

Each gunicorn worker imports this module and loads its own copy of the model from /opt/ml/model, with the same
settings (request limits) as the image's own server.
"""

from __future__ import annotations

import json

import flask

from chainer_mnist.serving.handler import MnistHandler
from sm_contract import content_types
from sm_contract.environment import ServingEnv
from sm_contract.errors import RequestError

app = flask.Flask(__name__)
handler = MnistHandler.load(ServingEnv.from_environ())


def _error(status: int, error: str, detail: str) -> flask.Response:
    body = json.dumps({"error": error, "detail": detail})
    return flask.Response(body, status=status, mimetype="application/json")


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    return flask.Response(status=200 if handler is not None else 404)


@app.route("/invocations", methods=["POST"])
def invocations() -> flask.Response:
    content_type = content_types.media_type(flask.request.content_type) or handler.content_types[0]
    if content_type not in handler.content_types:
        return _error(415, "unsupported content type", f"Content-Type {content_type} is not supported")
    accept = content_types.negotiate(flask.request.headers.get("Accept"), handler.accept_types)
    if accept is None:
        return _error(406, "not acceptable", "Accept cannot be met")
    try:
        outputs = handler.predict(handler.decode(flask.request.get_data(), content_type, flask.request.headers))
        return flask.Response(handler.encode(outputs, accept), status=200, mimetype=accept)
    except RequestError as exc:
        return _error(exc.status_code, exc.error, exc.detail)
