"""`docker run IMAGE serve` with SAGEMAKER_MULTI_MODEL=true: the /models API over copies of the test model, each
with its own code/inference.py, and TF Serving's REST API under the names they were loaded as."""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest
import requests

from utils import keras_model

pytestmark = pytest.mark.container

MULTI_MODEL_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"


def test_the_image_declares_it_serves_many_models(keras_text_image: str, docker_client: docker.DockerClient) -> None:
    assert docker_client.images.get(keras_text_image).labels.get(MULTI_MODEL_LABEL) == "true"


def test_models_api_and_rest_api_by_model_name(
    keras_text_image: str, container_factory: type, trained, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        shutil.copytree(trained.root / "model", tmp_path / "models" / name)
    server = container_factory(keras_text_image)  # type: ignore[operator]
    server.run(
        "serve",
        environment={"SAGEMAKER_MULTI_MODEL": "true"},
        volumes={str(tmp_path / "models"): {"bind": "/opt/ml/models", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    server.wait_for_ping()  # healthy with no model loaded
    url = f"http://127.0.0.1:{server.host_port()}"

    def load(name: str) -> requests.Response:
        return requests.post(f"{url}/models", json={"model_name": name, "url": f"/opt/ml/models/{name}"}, timeout=120)

    assert load("a").status_code == 200 and load("b").status_code == 200
    assert load("a").status_code == 409
    for name in ("a", "b"):
        answer = requests.post(f"{url}/models/{name}/invoke", json={"q": "電波が悪い"}, timeout=30)
        assert answer.status_code == 200, answer.text
        keras_model.assert_ranked(answer.json())
        assert answer.json()[0]["label"] == keras_model.OBVIOUS["電波が悪い"]
    status = requests.get(f"{url}/v1/models/a", timeout=5)
    assert status.status_code == 200 and status.json()["model_version_status"][0]["state"] == "AVAILABLE"
    assert requests.delete(f"{url}/models/a", timeout=10).status_code == 200
    gone = requests.get(f"{url}/v1/models/a", timeout=5)
    assert gone.status_code == 404 and "Servable not found" in gone.json()["error"]
    assert requests.post(f"{url}/models/b/invoke", json={"q": "電波が悪い"}, timeout=30).status_code == 200
    assert "serving on port 8080 with 1 worker(s)" in server.logs()
