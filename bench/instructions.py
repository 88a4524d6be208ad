"""Instructions per request of chainer-mnist's serving path, counted by callgrind: repeatable on a busy machine.

Timings on a shared machine drift with its load; instruction counts do not, so this is the measure to compare two
versions of the request path while developing (the timed benches give the final numbers on a quiet machine).
Each scenario runs under ``valgrind --tool=callgrind`` twice, with 0 and with --iterations repetitions after the
same set-up; the difference divided by --iterations is the count of one repetition:

* ``decode``, ``predict``, ``encode``, ``handler``: MnistHandler's steps on one single-image JSON request (an
  untrained MLP of the default size: the same instructions as a trained one);
* ``server``: the whole server path in process, uvicorn's httptools protocol on a stand-in transport (no
  sockets, so no kernel time), the app of ``sm_contract.serving.create_app``, uvloop: ``server-null`` with a
  handler that does nothing (the cost of the server alone), ``server`` with MnistHandler.

Counts are user-space instructions of the Python that runs this script, and depend on how it was built: run it
with one built like the image's (Debian's python3.11, with PGO); a Python built without those optimisations
counts several times more for the same asyncio code (server-null: 1.74 million against 0.26 million).

    PYTHON=/usr/bin/python3.11 scripts/make-venv.sh chainer-mnist .venv/debian   # once
    .venv/debian/bin/python bench/instructions.py server-null server handler
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCENARIOS = ("decode", "predict", "encode", "handler", "server-null", "server")
JSON = "application/json"


class NullHandler:
    content_types = (JSON,)
    accept_types = (JSON,)
    runs_on_event_loop = True

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> bytes:
        return body

    def predict(self, inputs: bytes) -> bytes:
        return inputs

    def encode(self, outputs: bytes, accept: str) -> bytes:
        return b"[1]"


def mnist_handler() -> Any:
    from chainer_mnist import model as model_lib
    from chainer_mnist.serving.handler import MnistHandler
    from sm_contract.environment import RequestLimits

    spec = model_lib.ModelSpec()
    return MnistHandler(model_lib.build(spec), spec, RequestLimits())


def single_body() -> bytes:
    image = np.random.default_rng(0).integers(0, 256, 784)
    image[:300] = 0  # MNIST digits are mostly background
    return json.dumps({"instances": [image.tolist()]}).encode()


class Transport(asyncio.Transport):
    """What uvicorn writes to, ending each response by setting ``done``."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer, self.done = bytearray(), asyncio.Event()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.buffer += data
        head, found, body = bytes(self.buffer).partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.I)
        if found and length and len(body) >= int(length[1]):
            self.last, self.buffer = bytes(self.buffer), bytearray()
            self.done.set()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def server(handler: Any) -> Callable[[], None]:
    """One request through uvicorn's protocol and the app per call (the worker's model already loaded)."""
    import uvloop
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    from sm_contract.environment import ServingEnv
    from sm_contract.http_protocol import BoundedHttpToolsProtocol
    from sm_contract.paths import MLPaths
    from sm_contract.server import uvicorn_config
    from sm_contract.serving import create_app

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    env = ServingEnv(paths=MLPaths(Path(tempfile.gettempdir())), workers=1)
    config = uvicorn_config(create_app(lambda _env: handler, env), env, lifespan="on")
    config.load()
    lifespan = LifespanOn(config)
    loop.run_until_complete(lifespan.startup())
    protocol = BoundedHttpToolsProtocol(config, ServerState(), lifespan.state, _loop=loop)
    transport = Transport()
    protocol.connection_made(transport)
    body = single_body()
    request = b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    request += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    async def one() -> None:
        transport.done.clear()
        protocol.data_received(request)
        await transport.done.wait()

    def call() -> None:
        loop.run_until_complete(one())
        if b" 200 " not in transport.last[:20]:
            raise RuntimeError(transport.last[:300].decode(errors="replace"))

    return call


def scenario(name: str) -> Callable[[], Any]:
    if name == "server-null":
        return server(NullHandler())
    handler = mnist_handler()
    if name == "server":
        return server(handler)
    body = single_body()
    images = handler.decode(body, JSON, {})
    outputs = handler.predict(images)
    return {
        "decode": lambda: handler.decode(body, JSON, {}),
        "predict": lambda: handler.predict(images),
        "encode": lambda: handler.encode(outputs, JSON),
        "handler": lambda: handler.encode(handler.predict(handler.decode(body, JSON, {})), JSON),
    }[name]


def inner(name: str, iterations: int) -> None:
    call = scenario(name)
    for _ in range(3):  # warm: first calls allocate, the cost estimate settles
        call()
    for _ in range(iterations):
        call()


def count(name: str, iterations: int) -> int:
    """Instructions callgrind collects for the whole process."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    done = subprocess.run(
        [*command, "--inner", name, str(iterations)],
        capture_output=True,
        text=True,
        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{name}: callgrind failed:\n{done.stderr[-3000:]}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS), help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--inner", nargs=2, metavar=("SCENARIO", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        inner(args.inner[0], int(args.inner[1]))
        return 0
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario(s) {sorted(unknown)}")
    for name in args.scenarios:
        per = (count(name, args.iterations) - count(name, 0)) / args.iterations
        print(f"{name:12s} {per:12,.0f} instructions per call", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
