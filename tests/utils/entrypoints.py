"""``serve`` in a fresh interpreter: an image's supervisor up to the point where it would start uvicorn, or a whole
server with two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The supervisor's own steps (environment, logging, the image's preparation), then a stand-in for uvicorn that
# reports what was imported by then.
SUPERVISOR = """
import json, sys
from sm_contract import server

def serve(app_factory, environ=None, extra_ports=()):
    print(json.dumps({"app_factory": app_factory, "extra_ports": list(extra_ports), "modules": sorted(sys.modules)}))
    return 0

server.serve = serve
__import__(sys.argv[1], fromlist=["IMAGE"]).IMAGE.serve()
"""


def run_supervisor(image_module: str, base_dir: Path) -> dict[str, Any]:
    """``IMAGE.serve()`` of ``image_module`` with ``/opt/ml`` at ``base_dir``: what it would start, what it imported."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    environ["SAGEMAKER_BASE_DIR"] = str(base_dir)
    done = subprocess.run(
        [sys.executable, "-c", SUPERVISOR, image_module], env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_serve(tmp_path: Path, code: str, port: int, **environ: str) -> subprocess.Popen[bytes]:
    """``python -c code`` (code that calls ``serve``) with two workers on ``port``, ``tmp_path`` as ``/opt/ml`` and on
    the import path (for the app module a test writes there); its output goes to ``tmp_path / "serve.log"``."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "MODEL_SERVER_"))},
        "PYTHONPATH": str(tmp_path),
        "SAGEMAKER_BASE_DIR": str(tmp_path),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
        **environ,
    }
    with (tmp_path / "serve.log").open("w") as out:
        return subprocess.Popen([sys.executable, "-c", code], env=environ, stdout=out, stderr=subprocess.STDOUT)
