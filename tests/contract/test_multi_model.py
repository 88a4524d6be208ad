"""The multi-model container contract (/models API), in process, with a model that scales numbers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sm_contract import codecs
from sm_contract.environment import MODELS_MEMORY_VAR, ServingEnv, multi_model_settings
from sm_contract.errors import ConfigurationError, ModelLoadError, RequestError
from sm_contract.multi_model import create_multi_model_app, enabled, handler_for, one_worker
from sm_contract.paths import MLPaths
from sm_contract.serving import error_response


class ScaleHandler:
    """Multiplies each number by the model's ``scale`` file."""

    content_types = ("application/json",)
    accept_types = ("application/json",)

    closed: ClassVar[list[str | None]] = []  # the names of the handlers closed, in order

    def __init__(self, scale: float, name: str | None = None) -> None:
        self.scale, self.name = scale, name

    @classmethod
    def load(cls, env: ServingEnv) -> ScaleHandler:
        found = env.model_dir / "scale"
        if not found.is_file():
            raise ModelLoadError(f"{found} not found")
        return cls(float(found.read_text()), env.model_name)

    def close(self) -> None:
        ScaleHandler.closed.append(self.name)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        return codecs.load_json(body)

    def predict(self, numbers: Any) -> Any:
        return [n * self.scale for n in numbers]

    def encode(self, outputs: Any, accept: str) -> bytes:
        return codecs.dump_json(outputs)


def model(folder: Path, scale: float, padding: int = 0) -> str:
    """A model folder: ``scale`` and ``padding`` bytes of weights (what counts against the budget)."""
    folder.mkdir(parents=True)
    (folder / "scale").write_text(str(scale))
    (folder / "weights.bin").write_bytes(b"\0" * padding)
    return str(folder)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    env = ServingEnv(paths=MLPaths(tmp_path / "opt_ml"))
    with TestClient(create_multi_model_app(ScaleHandler.load, env, budget_bytes=2500)) as test_client:
        yield test_client


def load(client: TestClient, name: str, url: str) -> Any:
    return client.post("/models", json={"model_name": name, "url": url})


def test_ping_answers_with_no_model_loaded(client: TestClient) -> None:
    assert client.get("/ping").status_code == 200
    assert client.get("/models").json() == {"models": []}


def test_load_list_get_invoke_unload(client: TestClient, tmp_path: Path) -> None:
    double, triple = model(tmp_path / "m" / "double", 2), model(tmp_path / "m" / "triple", 3)
    assert load(client, "double", double).status_code == 200
    assert load(client, "triple", triple).status_code == 200
    listed = client.get("/models").json()["models"]
    assert listed == [{"modelName": "double", "modelUrl": double}, {"modelName": "triple", "modelUrl": triple}]
    assert client.get("/models/triple").json() == {"modelName": "triple", "modelUrl": triple}
    assert client.post("/models/double/invoke", json=[1, 2]).json() == [2, 4]
    assert client.post("/models/triple/invoke", json=[1, 2]).json() == [3, 6]
    assert client.delete("/models/double").status_code == 200
    assert [m["modelName"] for m in client.get("/models").json()["models"]] == ["triple"]
    assert client.post("/models/double/invoke", json=[1]).status_code == 404


def test_already_loaded_is_409(client: TestClient, tmp_path: Path) -> None:
    url = model(tmp_path / "m" / "a", 2)
    assert load(client, "a", url).status_code == 200
    response = load(client, "a", url)
    assert response.status_code == 409 and "already loaded" in response.json()["detail"]


def test_over_the_budget_is_507_until_a_model_is_unloaded(client: TestClient, tmp_path: Path) -> None:
    assert load(client, "a", model(tmp_path / "m" / "a", 1, padding=1000)).status_code == 200
    assert load(client, "b", model(tmp_path / "m" / "b", 1, padding=1000)).status_code == 200
    third = model(tmp_path / "m" / "c", 1, padding=1000)
    response = load(client, "c", third)
    assert response.status_code == 507
    assert "2500-byte budget" in response.json()["detail"]
    assert client.delete("/models/a").status_code == 200
    assert load(client, "c", third).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/models/nope"), ("DELETE", "/models/nope"), ("POST", "/models/nope/invoke")],
)
def test_unknown_model_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=b"[1]", headers={"Content-Type": "application/json"})
    assert response.status_code == 404 and response.json()["error"] == "model not found"


def test_bad_load_requests(client: TestClient, tmp_path: Path) -> None:
    assert client.post("/models", content=b"not json").status_code == 400
    assert client.post("/models", json={"url": "/x"}).status_code == 400
    assert load(client, "gone", str(tmp_path / "absent")).status_code == 404
    (tmp_path / "empty").mkdir()
    response = load(client, "empty", str(tmp_path / "empty"))
    assert response.status_code == 400 and "scale not found" in response.json()["detail"]
    assert client.get("/models").json() == {"models": []}  # nothing half-loaded is left


def test_invoke_keeps_the_invocation_contract(client: TestClient, tmp_path: Path) -> None:
    load(client, "a", model(tmp_path / "m" / "a", 2))
    response = client.post("/models/a/invoke", content=b"1,2", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415  # the model's own content types, as on /invocations
    assert client.post("/models/a/invoke", content=b"", headers={"Content-Type": "application/json"}).status_code == 400


def test_invocations_names_the_multi_model_route(client: TestClient) -> None:
    response = client.post("/invocations", json=[1])
    assert response.status_code == 404 and "/models/{model_name}/invoke" in response.json()["detail"]


def test_list_pages(client: TestClient, tmp_path: Path) -> None:
    for name in "abc":
        load(client, name, model(tmp_path / "m" / name, 1))
    first = client.get("/models", params={"page_size": 2}).json()
    assert [m["modelName"] for m in first["models"]] == ["a", "b"]
    second = client.get("/models", params={"page_size": 2, "next_page_token": first["nextPageToken"]}).json()
    assert [m["modelName"] for m in second["models"]] == ["c"] and "nextPageToken" not in second
    assert client.get("/models", params={"page_size": "x"}).status_code == 400


def test_settings_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("4000000\n")
    assert multi_model_settings({"SAGEMAKER_MULTI_MODEL": "True"}, tmp_path).memory_bytes == 2_000_000
    assert multi_model_settings({MODELS_MEMORY_VAR: "123"}, tmp_path).memory_bytes == 123
    (tmp_path / "memory.max").write_text("max\n")
    assert multi_model_settings({}, tmp_path).memory_bytes > 0  # the machine's memory
    assert enabled({"SAGEMAKER_MULTI_MODEL": "true"}) and not enabled({})


def test_the_multi_model_layout_switches_it_on_too(tmp_path: Path) -> None:
    """SageMaker's multi-model layout: models under /opt/ml/models, nothing in /opt/ml/model."""
    environ = {"SAGEMAKER_BASE_DIR": str(tmp_path)}
    assert not enabled(environ)
    (tmp_path / "models" / "a" / "model").mkdir(parents=True)
    assert enabled(environ)
    (tmp_path / "model").mkdir()
    assert enabled(environ)  # an empty /opt/ml/model is no single model
    (tmp_path / "model" / "model.npz").write_bytes(b"weights")
    assert not enabled(environ)  # a single model wins over a stray models folder


def test_one_worker_holds_the_models() -> None:
    environ = {"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}
    one_worker(environ)
    assert environ["SAGEMAKER_MODEL_SERVER_WORKERS"] == "1"


async def scale_of(request: Request) -> Response:
    """An image's own route: the scale of the model its path names."""
    try:
        handler = handler_for(request, request.path_params["name"])
    except RequestError as exc:
        return error_response(exc)
    return JSONResponse({"scale": handler.scale, "name": handler.name})


def test_prepare_routes_and_close_hooks(tmp_path: Path) -> None:
    """An image's prepare step runs before each model loads, in its folder and under its name; its routes find
    the loaded models by name; an unloaded model's handler is closed."""
    prepared: list[tuple[str | None, Path]] = []

    def prepare(env: ServingEnv) -> None:
        if (env.model_dir / "refuse").exists():
            raise ConfigurationError("code/requirements.txt line 1 is refused")
        prepared.append((env.model_name, env.model_dir))

    env = ServingEnv(paths=MLPaths(tmp_path / "opt_ml"))
    routes = [Route("/scale/{name}", scale_of)]
    app = create_multi_model_app(ScaleHandler.load, env, budget_bytes=10_000, routes=routes, prepare=prepare)
    ScaleHandler.closed.clear()
    with TestClient(app) as client:
        double = model(tmp_path / "m" / "double", 2)
        assert load(client, "double", double).status_code == 200
        assert prepared == [("double", Path(double))]
        assert client.get("/scale/double").json() == {"scale": 2.0, "name": "double"}
        refused = model(tmp_path / "m" / "refused", 3)
        (Path(refused) / "refuse").touch()
        answer = load(client, "refused", refused)
        assert answer.status_code == 400 and "requirements.txt line 1 is refused" in answer.json()["detail"]
        assert [m["modelName"] for m in client.get("/models").json()["models"]] == ["double"]
        assert ScaleHandler.closed == []
        assert client.delete("/models/double").status_code == 200
        assert ScaleHandler.closed == ["double"]
        assert client.get("/scale/double").status_code == 404  # handler_for: not loaded
