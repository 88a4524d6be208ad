"""A TF Serving container artifact served through our app: inference.py styles, default handling, errors."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from keras_text.serving import app as serving
from keras_text.serving.prepare import prepare
from keras_text.serving.tfs.handlers import TfsHandler, default_tfs_body
from sm_contract.environment import ServingEnv
from sm_contract.errors import ConfigurationError, ModelLoadError
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from utils.data import free_port
from utils.tfs_models import tf1_scaler, tf2_adder, write_code

HANDLER = """
    import json
    import requests

    def handler(data, context):
        body = json.loads(data.read().decode())
        if "boom" in body:
            raise RuntimeError("the handler broke")
        if "bad" in body:
            raise ValueError("field 'bad' is not allowed")
        if "csv" in body:
            error = ValueError("send JSON, not CSV")
            error.status_code = 415
            raise error
        answer = requests.post(context.rest_uri, data=json.dumps({"instances": body["x"]}))
        seen = {k: getattr(context, k) for k in ("model_name", "model_version", "method", "rest_uri",
                                                    "request_content_type", "accept_header", "content_length")}
        return json.dumps({"tfs": answer.json(), "status": answer.status_code, "context": seen}), "application/json"
"""

PAIR = """
    import json
    from helper import to_instances

    def input_handler(data, context):
        return json.dumps({"instances": to_instances(data.read().decode())})

    def output_handler(response, context):
        if response.status_code != 200:
            raise ValueError(response.content.decode())
        return ",".join(str(p[0]) for p in response.json()["predictions"]), "text/csv"
"""


def _model_dir(root: Path) -> Path:
    tf1_scaler(root / "model" / "scaler" / "1", 3.0)
    tf1_scaler(root / "model" / "scaler" / "2", 4.0)
    tf2_adder(root / "model" / "adder" / "1")
    return root


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tmp_path_factory.mktemp("tfs_artifact"))


@contextlib.contextmanager
def _client(root: Path, code: str | None, files: dict[str, str] | None = None, **environ: str) -> Iterator[TestClient]:
    code_dir = root / "model" / "code"
    if code_dir.exists():
        for path in sorted(code_dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        code_dir.rmdir()
    if code is not None:
        write_code(code_dir, code, files)
    env = ServingEnv(paths=MLPaths(root), environ={"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "scaler", **environ})
    with TestClient(create_app(serving.load, env, routes=serving.ROUTES)) as client:
        yield client


def test_handler_reaches_the_rest_api_in_process_and_sees_the_context(artifact: Path) -> None:
    with _client(artifact, HANDLER) as client:
        response = client.post(
            "/invocations",
            json={"x": [1.0]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=scaler,tfs-model-version=1"},
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["tfs"] == {"predictions": [[3.0]]} and answer["status"] == 200
    context = answer["context"]
    assert context["rest_uri"] == "http://localhost:8501/v1/models/scaler/versions/1:predict"
    assert (context["model_name"], context["model_version"], context["method"]) == ("scaler", "1", None)
    assert context["request_content_type"] == "application/json" and context["accept_header"] == "*/*"
    assert context["content_length"] == len(b'{"x":[1.0]}')


def test_handler_errors_are_4xx_about_the_request_and_500_otherwise(artifact: Path) -> None:
    with _client(artifact, HANDLER) as client:
        bad = client.post("/invocations", json={"bad": 1})
        broken = client.post("/invocations", json={"boom": 1})
        named = client.post("/invocations", json={"csv": 1})
    assert (bad.status_code, bad.json()) == (400, {"error": "field 'bad' is not allowed"})
    assert (named.status_code, named.json()) == (415, {"error": "send JSON, not CSV"})
    assert broken.status_code == 500


def test_input_and_output_handlers_with_code_lib(artifact: Path) -> None:
    helper = {"lib/helper.py": "def to_instances(text):\n    return [float(v) for v in text.split()]\n"}
    with _client(artifact, PAIR, helper) as client:
        response = client.post("/invocations", content=b"1 2", headers={"Content-Type": "text/plain"})
        refused = client.post(
            "/invocations", content=b"1", headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=missing"}
        )
    assert (response.status_code, response.text) == (200, "4.0,8.0")
    assert response.headers["content-type"].startswith("text/csv")
    assert refused.status_code == 404 and "Servable not found" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "predictions"),
    [
        (b'{"instances": [1.0, 2.0]}', "application/json", [[4.0], [8.0]]),
        (b"[1.0, 2.0]", "application/json", [[4.0], [8.0]]),
        (b"[1.0]\n[2.0]\n", "application/jsonlines", [[4.0], [8.0]]),
        (b"1.0\n2.0\n", "text/csv", [[4.0], [8.0]]),
    ],
)
def test_default_handling_without_inference_py(
    artifact: Path, body: bytes, content_type: str, predictions: list
) -> None:
    with _client(artifact, None) as client:
        response = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": predictions}


@pytest.mark.parametrize(
    ("body", "content_type", "instances"),
    [
        ('["a\u2028b"]\r\n\n["c\x85"]\n'.encode(), "application/jsonlines", [["a\u2028b"], ["c\x85"]]),
        ('{"x": "\u2029"}\n{"x": 1}'.encode(), "application/json", [{"x": "\u2029"}, {"x": 1}]),
        ("1\r\n\x0c\n2\u2028".encode(), "text/csv", None),  # one rule for lines: U+2028 ends none
    ],
)
def test_default_handling_ends_lines_at_newlines_only(body: bytes, content_type: str, instances: list | None) -> None:
    if instances is None:
        with pytest.raises(json.JSONDecodeError):
            json.loads(default_tfs_body(body, content_type))
    else:
        assert json.loads(default_tfs_body(body, content_type)) == {"instances": instances}


def test_default_handling_refuses_other_types_and_passes_tf_serving_errors_on(artifact: Path) -> None:
    with _client(artifact, None) as client:
        image = client.post("/invocations", content=b"x", headers={"Content-Type": "image/png"})
        wrong = client.post("/invocations", json={"instances": ["abc"]})
        named = client.post(
            "/invocations",
            json={"instances": [{"a": [1.0, 2.0], "b": 2}]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=adder"},
        )
    assert (image.status_code, image.json()) == (415, {"error": "Unsupported Media Type: image/png"})
    assert wrong.status_code == 400 and "cannot convert to float32" in wrong.json()["error"]
    assert named.json() == {"predictions": [{"sum": 15.0, "double": [2.0, 4.0]}]}


def test_the_rest_api_also_answers_on_its_own_routes(artifact: Path) -> None:
    with _client(artifact, None) as client:
        status = client.get("/v1/models/scaler")
        predict = client.post("/v1/models/adder:predict", json={"inputs": {"a": [[1.0, 1.0]], "b": [0]}})
    assert [v["version"] for v in status.json()["model_version_status"]] == ["1", "2"]
    assert predict.json() == {"outputs": {"sum": [12.0], "double": [[2.0, 2.0]]}}


URLLIB_HANDLER = """
    import json
    import urllib.request

    def handler(data, context):
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(context.rest_uri, data=data.read(), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read(), "application/json"
"""


def test_a_handler_using_plain_http_reaches_the_rest_port(tmp_path: Path) -> None:
    root = _model_dir(tmp_path)
    write_code(root / "model" / "code", URLLIB_HANDLER)
    port = free_port()
    env = ServingEnv(paths=MLPaths(root), environ={"SAGEMAKER_SAFE_PORT_RANGE": f"{port - 1}-{port + 5}"})
    assert env.rest_port == port
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(create_app(serving.load, env, routes=serving.ROUTES), log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        import requests

        answer = requests.post(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"instances": [2.0]}),
            headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=scaler"},
            timeout=30,
        )
        assert (answer.status_code, answer.json()) == (200, {"predictions": [[8.0]]})
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_an_artifact_without_savedmodel_or_with_broken_code_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelLoadError, match=r"no <version>/saved_model\.pb"):
        TfsHandler.load(ServingEnv(paths=MLPaths(tmp_path)), 8501)
    tf1_scaler(tmp_path / "model" / "1", 1.0)
    write_code(tmp_path / "model" / "code", "def unrelated():\n    pass\n")
    with pytest.raises(ModelLoadError, match="neither handler nor input_handler"):
        TfsHandler.load(ServingEnv(paths=MLPaths(tmp_path)), 8501)


def test_requirements_install_unless_lib_vendors_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = write_code(tmp_path / "model" / "code", HANDLER, {"requirements.txt": "--no-index\nno-such-dist-byoc==1\n"})
    env = ServingEnv(paths=MLPaths(tmp_path))
    with pytest.raises(ConfigurationError, match="no-such-dist-byoc==1"):
        prepare(env)
    (code / "lib").mkdir()
    prepare(env)  # lib/ present: requirements.txt ignored, as by AWS's container
