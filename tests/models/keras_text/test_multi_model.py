"""The image's app in a multi-model container, in process: TF Serving artifacts loaded through ``/models``, each
with its own ``code/inference.py``, ``context.rest_uri`` and REST API routes under the name it was loaded as."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keras_text.image import IMAGE
from keras_text.serving.tfs import transport
from utils import keras_model
from utils.tfs_models import tf1_scaler, write_code

# Posts to context.rest_uri and says what it saw: which model answered, and the context it was called with.
HANDLER = """
    import json
    import requests

    def handler(data, context):
        body = json.loads(data.read().decode())
        answer = requests.post(context.rest_uri, data=json.dumps({"instances": body["x"]}))
        seen = {"model_name": context.model_name, "rest_uri": context.rest_uri, "tag": TAG}
        return json.dumps({"tfs": answer.json(), "context": seen}), "application/json"
"""
REST_PORT = 8501  # ServingEnv.rest_port without SAGEMAKER_SAFE_PORT_RANGE


def scaler_model(folder: Path, factor: float) -> str:
    """A TF Serving artifact: ``1/`` multiplies by ``factor``; its inference.py is tagged with the factor."""
    tf1_scaler(folder / "1", factor)
    write_code(folder / "code", HANDLER.replace("TAG", repr(factor)))
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tfs_models")
    found = {"three": scaler_model(root / "three", 3.0), "four": scaler_model(root / "four", 4.0)}
    tf1_scaler(root / "named" / "scaler" / "1", 5.0)  # a named model only: nothing at the top
    found["named"] = str(root / "named")
    refused = Path(scaler_model(root / "refused", 6.0))
    (refused / "code" / "requirements.txt").write_text("numpy\n--extra-index-url https://pypi.example/simple\n")
    found["refused"] = str(refused)
    return found


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app a worker of ``serve`` builds with SAGEMAKER_MULTI_MODEL=true (``IMAGE.app``), room for any models."""
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path / "opt_ml"))
    monkeypatch.setenv("SAGEMAKER_MULTI_MODEL", "true")
    monkeypatch.setenv("MODEL_SERVER_MODELS_MEMORY_BYTES", str(1 << 30))
    monkeypatch.delenv("SAGEMAKER_SAFE_PORT_RANGE", raising=False)
    with TestClient(IMAGE.app()) as test_client:
        yield test_client


def load(client: TestClient, name: str, url: str) -> int:
    return client.post("/models", json={"model_name": name, "url": url}).status_code


def invoke(client: TestClient, name: str, x: list[float], **headers: str) -> dict:
    answer = client.post(f"/models/{name}/invoke", json={"x": x}, headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict = answer.json()
    return found


def test_each_model_has_its_own_handlers_and_rest_uri(client: TestClient, models: dict[str, str]) -> None:
    assert load(client, "three", models["three"]) == 200 and load(client, "four", models["four"]) == 200
    three, four = invoke(client, "three", [1.0, 2.0]), invoke(client, "four", [1.0])
    assert three["tfs"] == {"predictions": [[3.0], [6.0]]} and three["context"]["tag"] == 3.0
    assert four["tfs"] == {"predictions": [[4.0]]} and four["context"]["tag"] == 4.0
    assert three["context"]["model_name"] == "three"
    assert three["context"]["rest_uri"] == f"http://localhost:{REST_PORT}/v1/models/three:predict"
    # The loaded name wins over tfs-model-name, as in AWS's container (tfs_utils.make_tfs_uri).
    other = invoke(client, "three", [1.0], **{"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=four"})
    assert other["tfs"] == {"predictions": [[3.0]]} and other["context"]["model_name"] == "three"


def test_rest_api_serves_the_loaded_models_by_name(client: TestClient, models: dict[str, str]) -> None:
    assert load(client, "three", models["three"]) == 200 and load(client, "four", models["four"]) == 200
    status = client.get("/v1/models/four")
    assert status.status_code == 200
    assert status.json()["model_version_status"][0]["version"] == "1"
    predicted = client.post("/v1/models/four:predict", json={"instances": [2.0]})
    assert predicted.json() == {"predictions": [[8.0]]}
    assert client.delete("/models/four").status_code == 200
    for answer in (client.get("/v1/models/four"), client.post("/v1/models/four:predict", json={"instances": [1]})):
        assert answer.status_code == 404 and answer.json() == {"error": "Servable not found for request: Latest(four)"}
    # In process too: a handler's requests.post to an unloaded model's URI gets TF Serving's 404.
    status_code, _ = transport.dispatch(REST_PORT, "/v1/models/four:predict", b'{"instances": [1.0]}')
    assert status_code == 404
    assert invoke(client, "three", [1.0])["tfs"] == {"predictions": [[3.0]]}  # the other model is untouched


def test_loads_refused_with_the_reason(client: TestClient, models: dict[str, str]) -> None:
    named = client.post("/models", json={"model_name": "named", "url": models["named"]})
    assert named.status_code == 400 and "holds named models only (scaler)" in named.json()["detail"]
    refused = client.post("/models", json={"model_name": "refused", "url": models["refused"]})
    assert refused.status_code == 400  # the image's prepare step ran for this model: its requirements.txt
    assert "requirements.txt line 2" in refused.json()["detail"] and "extra-index-url" in refused.json()["detail"]
    assert client.get("/models").json() == {"models": []}


def test_two_copies_of_our_model_answer_the_obvious_sentence(
    client: TestClient, trained_root: Path, tmp_path: Path
) -> None:
    """Our model's input_handler / output_handler per copy: each copy's labels are its own (one is renamed)."""
    first, second = tmp_path / "first", tmp_path / "second"
    for copy in (first, second):
        shutil.copytree(trained_root / "model", copy)
        (copy / "code" / "requirements.txt").unlink()  # the image's pins: not for pip in the test venv
    meta = json.loads((second / "code" / "labels.json").read_text(encoding="utf-8"))
    meta["labels"] = [f"second-{label}" for label in meta["labels"]]
    (second / "code" / "labels.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    assert load(client, "first", str(first)) == 200 and load(client, "second", str(second)) == 200
    for name, prefix in (("first", ""), ("second", "second-")):
        answer = client.post(f"/models/{name}/invoke", json={"q": "電波が悪い"})
        assert answer.status_code == 200, answer.text
        assert answer.json()[0]["label"] == prefix + keras_model.OBVIOUS["電波が悪い"]
