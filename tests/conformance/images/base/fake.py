"""A stand-in SageMaker image in one standard-library file: ``fake.py train`` and ``fake.py serve``.

It keeps the container contract (the control image passes every check of the conformance suite), except for the
faults named in ``FAKE_FAULTS`` (comma-separated), each breaking one point of the contract the way real images do:

- ``ignore-sigterm``: no SIGTERM handler (a Python PID 1 then ignores the signal)
- ``no-failure-file``: a failed job writes no /opt/ml/output/failure
- ``port-8081``: the server listens on 8081
- ``malformed-500``: a body that does not parse gets 500
- ``slow-ping``: /ping takes 2.5 s
- ``reset-large-body``: a body over 4 MiB is not read: the connection is closed under it
- ``multi-record-casing``: /execution-parameters says ``MULTI_RECORD``
- ``load-twice-200``: loading a loaded model again is not refused with 409
- ``memory-hog``: the server holds 1.2 GB

Training: hyperparameters ``seconds`` (how long it "trains", default 2) and ``fail`` (``true``: refuse the job);
any other key is refused. The model is ``model.json``. Serving: JSON ``{"instances": [[numbers]]}`` or CSV lines
of numbers; the answer is each row's sum.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ML = Path("/opt/ml")
FAULTS = set(filter(None, os.environ.get("FAKE_FAULTS", "").split(",")))
MIB = 1024 * 1024
stopping = threading.Event()


def log(message: str) -> None:
    print(f"fake: {message}", flush=True)


def on_sigterm(handler: object) -> None:
    if "ignore-sigterm" not in FAULTS:
        signal.signal(signal.SIGTERM, handler)  # type: ignore[arg-type]


def fail(reason: str) -> int:
    log(f"failed: {reason}")
    if "no-failure-file" not in FAULTS:
        (ML / "output").mkdir(parents=True, exist_ok=True)
        (ML / "output" / "failure").write_text(reason + "\n")
    return 1


def train() -> int:
    on_sigterm(lambda *_: stopping.set())
    log("training starts")
    config = ML / "input" / "config"
    hps = json.loads((config / "hyperparameters.json").read_text())
    channels = json.loads((config / "inputdataconfig.json").read_text())
    resources = json.loads((config / "resourceconfig.json").read_text())
    unknown = sorted(set(hps) - {"seconds", "fail"})
    if unknown:
        return fail(f"unknown hyperparameter(s): {', '.join(unknown)}")
    if not all(isinstance(v, str) for v in hps.values()):
        return fail("hyperparameter values must be strings")
    if hps.get("fail") == "true":
        return fail("refused: the hyperparameter fail=true asks this job to fail")
    deadline = time.monotonic() + float(hps.get("seconds", "2"))
    while time.monotonic() < deadline:
        if stopping.wait(0.05):
            log("stopped by SIGTERM")
            return 143
    files = {name: sorted(p.name for p in (ML / "input" / "data" / name).iterdir()) for name in channels}
    if resources["current_host"] == resources["hosts"][0]:
        (ML / "model" / "model.json").write_text(json.dumps({"scale": 1.0, "channels": files}))
    log("training done")
    return 0


class Models:
    """Loaded models by name (the multi-model API); ``None`` holds the single model of /opt/ml/model."""

    def __init__(self) -> None:
        self.loaded: dict[str | None, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def load(self, name: str | None, url: str) -> bool:
        scale = float(json.loads((Path(url) / "model.json").read_text())["scale"])
        with self.lock:
            if name in self.loaded and "load-twice-200" not in FAULTS:
                return False
            self.loaded[name] = (url, scale)
            return True


MODELS = Models()


def predict(body: bytes, content_type: str, scale: float) -> tuple[int, bytes, str]:
    text = body.decode("utf-8")
    if content_type == "application/json":
        rows = json.loads(text)["instances"]
        return 200, json.dumps({"predictions": [scale * sum(map(float, row)) for row in rows]}).encode(), content_type
    lines = [line for line in text.splitlines() if line.strip()]
    sums = [scale * sum(float(v) for v in line.split(",")) for line in lines]
    return 200, "".join(f"{s}\n" for s in sums).encode(), "text/csv"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        attributes = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if attributes:
            self.send_header("X-Amzn-SageMaker-Custom-Attributes", attributes)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status: int, message: str) -> None:
        self.answer(status, json.dumps({"error": message}).encode())

    def body(self) -> bytes | None:
        size = int(self.headers.get("Content-Length") or 0)
        batch_mb = int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6"))
        limit = max(6, batch_mb) * MIB
        if size > 4 * MIB and "reset-large-body" in FAULTS:
            self.connection.close()
            return None
        if size > limit:
            left = size
            while left > 0 and (chunk := self.rfile.read(min(left, MIB))):
                left -= len(chunk)
            self.error(413, f"body of {size} bytes over the {limit}-byte limit")
            return None
        return self.rfile.read(size)

    def do_GET(self) -> None:
        if self.path == "/ping":
            if "slow-ping" in FAULTS:
                time.sleep(2.5)
            self.answer(200 if None in MODELS.loaded or multi_model() else 503, b"")
        elif self.path == "/execution-parameters":
            strategy = "MULTI_RECORD" if "multi-record-casing" in FAULTS else "MultiRecord"
            parameters = {"MaxConcurrentTransforms": 1, "BatchStrategy": strategy, "MaxPayloadInMB": 6}
            self.answer(200, json.dumps(parameters).encode())
        elif self.path.startswith("/models"):
            self.models_get()
        else:
            self.error(404, "not found")

    def models_get(self) -> None:
        with MODELS.lock:
            named = sorted((n, u) for n, (u, _) in MODELS.loaded.items() if n is not None)
        if self.path.startswith("/models/"):
            found = dict(named).get(self.path.removeprefix("/models/"))
            if found is None:
                self.error(404, "model not loaded")
            else:
                self.answer(
                    200, json.dumps({"modelName": self.path.removeprefix("/models/"), "modelUrl": found}).encode()
                )
            return
        start = int(self.path.partition("next_page_token=")[2] or 0)  # one model per page: pagination exercised
        page = {"models": [{"modelName": n, "modelUrl": u} for n, u in named[start : start + 1]]}
        if start + 1 < len(named):
            page["nextPageToken"] = str(start + 1)
        self.answer(200, json.dumps(page).encode())

    def do_DELETE(self) -> None:
        name = self.path.removeprefix("/models/")
        with MODELS.lock:
            gone = MODELS.loaded.pop(name, None)
        self.answer(200, b"{}") if gone else self.error(404, "model not loaded")

    def do_POST(self) -> None:
        body = self.body()
        if body is None:
            return
        if self.path == "/models":
            request = json.loads(body)
            loaded = MODELS.load(request["model_name"], request["url"])
            self.answer(200, b"{}") if loaded else self.error(409, "model already loaded")
        elif self.path == "/invocations":
            self.invoke(body, None)
        elif self.path.startswith("/models/") and self.path.endswith("/invoke"):
            self.invoke(body, self.path.removeprefix("/models/").removesuffix("/invoke"))
        else:
            self.error(404, "not found")

    def invoke(self, body: bytes, name: str | None) -> None:
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        accept = (self.headers.get("Accept") or "*/*").split(";")[0].strip()
        with MODELS.lock:
            model = MODELS.loaded.get(name)
        if model is None:
            return self.error(404, f"model {name} not loaded")
        if content_type not in ("application/json", "text/csv"):
            return self.error(415, f"Content-Type {content_type} not supported")
        if accept not in ("*/*", "application/json", "text/csv"):
            return self.error(406, f"Accept {accept} not supported")
        if not body.strip():
            return self.error(400, "empty body")
        try:
            self.answer(*predict(body, content_type, model[1]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            self.error(500 if "malformed-500" in FAULTS else 400, f"cannot read the body: {exc}")


def multi_model() -> bool:
    return os.environ.get("SAGEMAKER_MULTI_MODEL") == "true"  # SageMaker sets it on multi-model endpoints


def serve() -> int:
    if "memory-hog" in FAULTS:
        hog = bytearray(1200 * MIB)
        hog[::4096] = b"x" * len(hog[::4096])  # touch every page
    if not multi_model():
        MODELS.load(None, str(ML / "model"))
    port = 8081 if "port-8081" in FAULTS else int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 drops connections under load
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - reached from outside the container
    on_sigterm(lambda *_: threading.Thread(target=server.shutdown).start())
    log(f"serving on {port}")
    server.serve_forever()
    log("stopped")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.exit(train() if command == "train" else serve() if command == "serve" else fail(f"unknown command {command!r}"))
