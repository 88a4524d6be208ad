"""Local endpoints over HTTP, for boto3 clients pointed at them with ``endpoint_url``.

* the runtime's REST API: ``POST /endpoints/{EndpointName}/invocations`` (botocore ``sagemaker-runtime``,
  rest-json: the InvokeEndpoint fields in headers, errors as ``x-amzn-ErrorType`` plus a JSON body with the
  error shape's members), so ``boto3.client("sagemaker-runtime", endpoint_url=url).invoke_endpoint(...)`` works;
* the endpoint operations of the control plane (``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``, json
  1.1), so ``boto3.client("sagemaker", endpoint_url=url)`` can describe, update or delete endpoints and its
  waiters work. Models stay with the runner (``CreateModel`` is not served here).

Requests are not authenticated (boto3 still needs some credentials to sign with). Stdlib ``http.server``, one
thread per connection, HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from byoc_pipelines.local.endpoints.errors import error_fields
from byoc_pipelines.local.endpoints.runtime import FORWARDED

if TYPE_CHECKING:
    from byoc_pipelines.local.endpoints.service import Endpoints

logger = logging.getLogger(__name__)

INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")
TARGET_PREFIX = "SageMaker."


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.timestamp()  # the json protocol's timestamps are epoch seconds
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    endpoints: Endpoints  # set on the subclass each server makes

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.client_address[0], *args)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, exc: ClientError, content_type: str) -> None:
        status, fields = error_fields(exc)
        headers = {"Content-Type": content_type, "x-amzn-ErrorType": str(fields["__type"])}
        self._send(status, json.dumps(fields).encode(), headers)

    def do_POST(self) -> None:
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        match = INVOCATIONS.match(path)
        if match:
            self._invoke(urllib.parse.unquote(match.group(1)), body)
        elif path == "/" and self.headers.get("X-Amz-Target", "").startswith(TARGET_PREFIX):
            self._control(self.headers["X-Amz-Target"].removeprefix(TARGET_PREFIX), body)
        else:
            self._send(404, b'{"message": "not a SageMaker API path"}', {"Content-Type": "application/json"})

    def _invoke(self, name: str, body: bytes) -> None:
        request: dict[str, Any] = {"EndpointName": name, "Body": body}
        for key, header in FORWARDED.items():
            if header in self.headers:
                request[key] = self.headers[header]
        try:
            answer = self.endpoints.runtime.invoke(request)
        except ClientError as exc:
            self._send_error(exc, "application/json")
            return
        headers = {
            "Content-Type": answer["ContentType"],
            "x-Amzn-Invoked-Production-Variant": answer["InvokedProductionVariant"],
        }
        if "CustomAttributes" in answer:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = answer["CustomAttributes"]
        self._send(200, answer["Body"].read(), headers)

    def _control(self, operation: str, body: bytes) -> None:
        content_type = "application/x-amz-json-1.1"
        try:
            if operation == "InvokeEndpoint":  # the runtime's, at /endpoints/{name}/invocations
                raise ClientError({"Error": {"Code": "UnknownOperationException", "Message": operation}}, operation)
            answer = self.endpoints.call(operation, json.loads(body or b"{}"))
        except ClientError as exc:
            self._send_error(exc, content_type)
            return
        self._send(200, json.dumps(answer, default=_json_default).encode(), {"Content-Type": content_type})


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the standard library's backlog of 5 refuses connections under a load generator
    daemon_threads = True


class Front:
    """The HTTP server of an :class:`Endpoints`, on a free loopback port; ``url`` for boto3's ``endpoint_url``."""

    def __init__(self, endpoints: Endpoints, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"endpoints": endpoints})
        self.server = _Server((host, port), handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="endpoints-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
