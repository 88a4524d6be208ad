"""`docker run IMAGE serve` as a multi-model container (models under /opt/ml/models): the /models API."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
import requests

from utils.endpoints import make_label_models

pytestmark = pytest.mark.container

MULTI_MODEL_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"
IMAGE_JSON = {"instances": [[0.0] * 784]}


def test_the_image_declares_it_serves_many_models(chainer_mnist_image: str, docker_client: docker.DockerClient) -> None:
    assert docker_client.images.get(chainer_mnist_image).labels.get(MULTI_MODEL_LABEL) == "true"


def test_models_api(chainer_mnist_image: str, container_factory: type, tmp_path: Path) -> None:
    folders = make_label_models(chainer_mnist_image, tmp_path / "models", [2, 5, 8])
    one_model = sum(p.stat().st_size for p in folders[2].iterdir())
    server = container_factory(chainer_mnist_image)  # type: ignore[operator]
    server.run(  # no SAGEMAKER_MULTI_MODEL: the /opt/ml/models layout is enough (the endpoint tests set it)
        "serve",
        environment={"MODEL_SERVER_MODELS_MEMORY_BYTES": str(int(2.5 * one_model))},
        volumes={str(tmp_path / "models"): {"bind": "/opt/ml/models", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    server.wait_for_ping()  # healthy with no model loaded
    url = f"http://127.0.0.1:{server.host_port()}"

    def load(name: str, label: int) -> requests.Response:
        spec = {"model_name": name, "url": f"/opt/ml/models/label-{label}"}
        return requests.post(f"{url}/models", json=spec, timeout=30)

    assert load("two", 2).status_code == 200 and load("five", 5).status_code == 200
    assert load("two", 2).status_code == 409
    assert load("eight", 8).status_code == 507  # over the budget: SageMaker would unload one and retry
    listed = requests.get(f"{url}/models", timeout=5).json()["models"]
    assert listed == [
        {"modelName": "two", "modelUrl": "/opt/ml/models/label-2"},
        {"modelName": "five", "modelUrl": "/opt/ml/models/label-5"},
    ]
    for name, label in (("two", 2), ("five", 5)):
        answer = requests.post(f"{url}/models/{name}/invoke", json=IMAGE_JSON, timeout=10)
        assert answer.json()["predictions"][0]["label"] == label
    assert requests.delete(f"{url}/models/two", timeout=5).status_code == 200
    assert load("eight", 8).status_code == 200
    assert requests.post(f"{url}/models/two/invoke", json=IMAGE_JSON, timeout=10).status_code == 404
    assert requests.get(f"{url}/models/eight", timeout=5).json()["modelUrl"] == "/opt/ml/models/label-8"
    assert "serving on port 8080 with 1 worker(s)" in server.logs()
