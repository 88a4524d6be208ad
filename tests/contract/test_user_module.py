"""Serving a user's module through our app: model_fn and friends, defaults, and whose fault an error is."""

from __future__ import annotations

import functools
import io
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from sm_contract.environment import ServingEnv
from sm_contract.errors import ConfigurationError, ModelLoadError
from sm_contract.paths import MLPaths
from sm_contract.script_mode import user_module
from sm_contract.serving import create_app

DEFAULTS = {
    "input_fn": user_module.default_input_fn,
    "output_fn": user_module.default_output_fn,
    "predict_fn": lambda data, model: np.asarray(data) * model["scale"],
}

SCALING_MODULE = """
import json, os

def model_fn(model_dir):
    return json.load(open(os.path.join(model_dir, "scale.json")))
"""


def _env(tmp_path: Path, source: str, program: str = "serve_me.py") -> ServingEnv:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / program).write_text(textwrap.dedent(source))
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model/scale.json").write_text('{"scale": 2}')
    environ = {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": str(code)}
    return ServingEnv(paths=MLPaths(tmp_path), environ=environ)


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[functools.partial[TestClient]]:
    clients: list[TestClient] = []

    def make(source: str) -> TestClient:
        env = _env(tmp_path, source)
        client = TestClient(create_app(functools.partial(user_module.UserModuleHandler.load, defaults=DEFAULTS), env))
        clients.append(client.__enter__())
        return client

    yield make  # type: ignore[misc]
    for client in clients:
        client.__exit__(None, None, None)


def test_defaults_read_and_write_json_csv_and_npy(client_for) -> None:
    client = client_for(SCALING_MODULE)
    response = client.post("/invocations", json=[[1, 2], [3, 4]])
    assert (response.status_code, response.json()) == (200, [[2.0, 4.0], [6.0, 8.0]])
    csv = client.post("/invocations", content=b"1,2\n", headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert (csv.text, csv.headers["content-type"].split(";")[0]) == ("2,4\n", "text/csv")
    buffer = io.BytesIO()
    np.save(buffer, np.ones((2, 2), dtype=np.float32))
    npy = client.post(
        "/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    assert np.load(io.BytesIO(npy.content)).tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_default_formats_refuse_what_they_cannot_read_or_write(client_for) -> None:
    client = client_for(SCALING_MODULE)
    assert client.post("/invocations", content=b"x", headers={"Content-Type": "image/png"}).status_code == 415
    assert client.post("/invocations", json=[[1]], headers={"Accept": "image/png"}).status_code == 406


def test_the_modules_own_functions_win(client_for) -> None:
    client = client_for(
        SCALING_MODULE
        + """
def input_fn(body, content_type):
    if body == b"oops":
        raise ValueError("cannot read 'oops'")
    return [float(x) for x in body.split()]

def predict_fn(data, model):
    if data == [13.0]:
        raise RuntimeError("unlucky")
    return [x + model["scale"] for x in data]

def output_fn(prediction, accept):
    return " ".join(str(x) for x in prediction), "text/plain"
"""
    )
    response = client.post("/invocations", content=b"1 2", headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.text) == (200, "3.0 4.0")
    assert response.headers["content-type"].startswith("text/plain")
    bad = client.post("/invocations", content=b"oops", headers={"Content-Type": "text/plain"})
    assert bad.status_code == 400 and "ValueError: cannot read 'oops'" in bad.json()["detail"]
    fault = client.post("/invocations", content=b"13", headers={"Content-Type": "text/plain"})
    assert fault.status_code == 500 and fault.json()["error"] == "internal server error"


def test_transform_fn_replaces_the_three(client_for) -> None:
    client = client_for(
        SCALING_MODULE
        + """
def transform_fn(model, body, content_type, accept):
    return json.dumps({"got": body.decode(), "type": content_type, "accept": accept}), "application/json"
"""
    )
    response = client.post("/invocations", content=b"hello", headers={"Content-Type": "text/plain"})
    assert response.json() == {"got": "hello", "type": "text/plain", "accept": "application/json"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def input_fn(body, content_type):\n    return body\n", "defines no model_fn"),
        ("import no_such_module_anywhere\n", "importing serve_me.py failed: ModuleNotFoundError"),
        ("def model_fn(model_dir):\n    raise OSError('weights missing')\n", "model_fn of serve_me.py failed: OSError"),
    ],
)
def test_a_module_that_cannot_serve_stops_start_up(tmp_path: Path, source: str, message: str) -> None:
    env = _env(tmp_path, source)
    with pytest.raises(ModelLoadError, match=message):
        user_module.UserModuleHandler.load(env, DEFAULTS)


def test_code_in_the_model_archive_is_found(tmp_path: Path) -> None:
    (tmp_path / "model/code").mkdir(parents=True)
    (tmp_path / "model/code/inference.py").write_text(SCALING_MODULE)
    (tmp_path / "model/scale.json").write_text('{"scale": 3}')
    env = ServingEnv(paths=MLPaths(tmp_path), environ={"SAGEMAKER_PROGRAM": "inference.py"})
    handler = user_module.UserModuleHandler.load(env, DEFAULTS)
    decoded = handler.decode(b"[1]", "application/json", {})
    assert json.loads(handler.encode(handler.predict(decoded), "*/*")[0]) == [3.0]


def test_a_models_requirements_are_checked_before_pip_runs(tmp_path: Path) -> None:
    """A served module's requirements.txt is a model's: an index option in it stops start-up, naming the line."""
    (tmp_path / "model/code").mkdir(parents=True)
    (tmp_path / "model/code/inference.py").write_text(SCALING_MODULE)
    (tmp_path / "model/code/requirements.txt").write_text("--index-url https://pypi.example/simple\nno-such-dist\n")
    env = ServingEnv(paths=MLPaths(tmp_path), environ={"SAGEMAKER_PROGRAM": "inference.py"})
    assert env.script is not None
    with pytest.raises(ConfigurationError, match=r"^code/requirements\.txt line 1: .* where packages come from"):
        user_module.prepare(env.script, env)
