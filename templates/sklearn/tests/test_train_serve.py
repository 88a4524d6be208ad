"""sklearn-template's trainer and handler behind the real serving app, in process (`make test/sklearn-template`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from sm_contract.environment import ServingEnv, TrainingEnv
from sm_contract.errors import ConfigurationError, DataError
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from sm_contract.training import StopSignal
from utils.data import write_opt_ml

# The image's package is imported where used: its name is the image's, so no import order holds for every name.
DATA = Path(__file__).resolve().parents[3] / "containers" / "sklearn-template" / "data"


def run_job(env: TrainingEnv) -> None:
    from sklearn_template.training import train

    train(env, StopSignal())


def _job(root: Path, hyperparameters: dict[str, str], channels: dict[str, Path]) -> TrainingEnv:
    files = {name: {p.name: p for p in folder.glob("*.csv")} for name, folder in channels.items()}
    write_opt_ml(root, hyperparameters, files)
    return TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("opt_ml")
    run_job(_job(root, {"epochs": "30"}, {"train": DATA / "train", "validation": DATA / "validation"}))
    return root


@pytest.fixture(scope="module")
def client(model_root: Path) -> Iterator[TestClient]:
    from sklearn_template.serving import Handler

    with TestClient(create_app(Handler.load, ServingEnv(paths=MLPaths(model_root), workers=1))) as test_client:
        yield test_client


def test_training_leaves_a_model_of_numbers_only(model_root: Path) -> None:
    model = model_root / "model"
    assert sorted(p.name for p in model.iterdir()) == ["model.json", "model.npz"]
    with np.load(model / "model.npz", allow_pickle=False) as npz:
        assert npz["classes"].tolist() == ["setosa", "versicolor", "virginica"]
    assert json.loads((model / "model.json").read_text())["columns"][0] == "sepal_length"


def test_the_transform_rows_are_classified(client: TestClient) -> None:
    rows = (DATA / "transform" / "iris.csv").read_bytes()
    answer = client.post("/invocations", content=rows, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert answer.status_code == 200
    labels = (DATA / "labels.txt").read_text().split()
    assert np.mean(np.array(answer.text.split()) == np.array(labels)) >= 0.85


def test_json_rows_get_labels_and_probabilities(client: TestClient) -> None:
    body = {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    answer = client.post("/invocations", json=body, headers={"Accept": "application/json"})
    predictions = answer.json()["predictions"]
    assert [p["label"] for p in predictions] == ["setosa", "virginica"]
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 for p in predictions)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"1,2,3\n", "text/csv", "each row needs 4 numbers"),
        (b"1,2,nan,4\n", "text/csv", "finite"),
        (b'{"rows": []}', "application/json", "instances"),
        (b"", "text/csv", ""),
    ],
)
def test_bad_rows_are_client_errors(client: TestClient, body: bytes, content_type: str, message: str) -> None:
    answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400 and message in answer.text


def test_bad_jobs_fail_with_a_reason_naming_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'epochs'"):
        run_job(_job(tmp_path / "a", {"epochs": "0"}, {"train": DATA / "train"}))
    with pytest.raises(DataError, match="no column 'species'"):
        run_job(_job(tmp_path / "b", {"label": "species"}, {"train": DATA / "train"}))
