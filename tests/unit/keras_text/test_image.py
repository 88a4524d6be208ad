"""The image's entry points: typed hooks wired to the modules that ship, and a serve supervisor without TensorFlow."""

from __future__ import annotations

import pkgutil
from pathlib import Path

from keras_text.image import IMAGE
from keras_text.serving import app, prepare
from keras_text.training import job
from utils.entrypoints import run_supervisor

FRAMEWORKS = {"tensorflow", "tf_keras", "keras", "keras_self_attention"}
SERVER = {"starlette", "anyio", "uvloop", "httptools", "requests", "urllib3", "numpy"}  # the workers' modules


def test_hooks_give_the_shipped_pieces() -> None:
    assert IMAGE.trainer() is job.train
    assert IMAGE.loader() is app.load
    assert IMAGE.serve_prepare is not None and IMAGE.serve_prepare() is prepare.prepare
    assert IMAGE.routes is not None and IMAGE.routes() is app.ROUTES
    assert pkgutil.resolve_name(IMAGE.app_factory) == IMAGE.app  # what every uvicorn worker imports


def test_the_serve_supervisor_imports_no_tensorflow(tmp_path: Path) -> None:
    code = tmp_path / "model" / "code"
    (code / "lib").mkdir(parents=True)  # vendored modules: the preparation installs nothing
    (code / "inference.py").write_text("def handler(data, context):\n    return data.read()\n")
    (code / "requirements.txt").write_text("no-such-package-byoc==1.0\n")
    found = run_supervisor("keras_text.image", tmp_path)
    assert found["app_factory"] == "keras_text.image:IMAGE.app" and found["extra_ports"] == [8501]
    assert "keras_text.serving.prepare" in found["modules"]  # the preparation ran
    assert set(found["modules"]) & FRAMEWORKS == set()  # the packages themselves, not stand-ins of their parts
    assert set(found["modules"]) & SERVER == set()


def test_a_multi_model_supervisor_prepares_no_model(tmp_path: Path) -> None:
    """Models under /opt/ml/models and none in /opt/ml/model: each model is prepared as it loads, in its worker."""
    code = tmp_path / "models" / "a" / "model" / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text("def handler(data, context):\n    return data.read()\n")
    (code / "requirements.txt").write_text("no-such-package-byoc==1.0\n")
    found = run_supervisor("keras_text.image", tmp_path)
    assert found["extra_ports"] == [8501]  # TF Serving's REST API of the loaded models
    assert "keras_text.serving.prepare" not in found["modules"]
    assert set(found["modules"]) & (FRAMEWORKS | SERVER) == set()
