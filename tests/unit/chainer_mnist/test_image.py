"""The image's entry points: typed hooks wired to the modules that ship, and a serve supervisor without Chainer."""

from __future__ import annotations

import pkgutil
from pathlib import Path

from chainer_mnist.image import IMAGE
from chainer_mnist.serving import framework
from chainer_mnist.serving.handler import MnistHandler
from chainer_mnist.training import job
from utils.entrypoints import run_supervisor

FRAMEWORKS = {"chainer", "chainermn", "mpi4py"}


def test_hooks_give_the_shipped_pieces() -> None:
    assert IMAGE.trainer() is job.train
    assert IMAGE.loader() == MnistHandler.load
    assert IMAGE.defaults()["predict_fn"] is framework.default_predict_fn
    assert pkgutil.resolve_name(IMAGE.app_factory) == IMAGE.app  # what every uvicorn worker imports


def test_the_serve_supervisor_imports_no_chainer(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    found = run_supervisor("chainer_mnist.image", tmp_path)
    assert found["app_factory"] == "chainer_mnist.image:IMAGE.app" and found["extra_ports"] == []
    assert "sm_contract.entrypoints" in found["modules"]
    assert set(found["modules"]) & FRAMEWORKS == set()  # the packages themselves, not stand-ins of their parts
    assert "sm_contract.script_mode.runner" not in found["modules"]  # script mode's runner: for training only
