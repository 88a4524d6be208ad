"""The chainer-mnist handler behind the real serving app, in process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from chainer_mnist.serving.handler import MnistHandler
from chainer_mnist.training.job import train
from sm_contract.environment import ServingEnv, TrainingEnv
from sm_contract.errors import ModelLoadError
from sm_contract.paths import MLPaths
from sm_contract.serving import create_app
from sm_contract.training import StopSignal
from utils.data import mnist_subset_bytes, write_opt_ml


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    channels = {c: {f"{c}.npz": mnist_subset_bytes(mnist_dir, c, n)} for c, n in (("train", 5000), ("valid", 500))}
    root = write_opt_ml(tmp_path_factory.mktemp("opt_ml"), {"epochs": "4", "units": "128"}, channels)
    train(TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)}), StopSignal())
    return root


@pytest.fixture(scope="module")
def holdout(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(mnist_dir / "valid" / "valid.npz") as npz:  # images the fixture did not use
        return npz["images"][1000:1200], npz["labels"][1000:1200]


@pytest.fixture(scope="module")
def client(model_root: Path) -> Iterator[TestClient]:
    env = ServingEnv(paths=MLPaths(model_root), workers=1)
    with TestClient(create_app(MnistHandler.load, env)) as test_client:
        yield test_client


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_json_predictions(client: TestClient, holdout) -> None:
    images, labels = holdout
    response = client.post("/invocations", json={"instances": (images[:50] / 255.0).tolist()})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 50
    assert all(len(p["probabilities"]) == 10 and abs(sum(p["probabilities"]) - 1) < 1e-4 for p in predictions)
    accuracy = np.mean([p["label"] for p in predictions] == labels[:50])
    assert accuracy > 0.8
    bare = client.post("/invocations", json=images[:3].reshape(3, 28, 28).tolist())  # bare list of uint8 images
    assert [p["label"] for p in bare.json()["predictions"]] == [p["label"] for p in predictions[:3]]


def test_npy_in_every_accepted_shape_and_npy_out(client: TestClient, holdout) -> None:
    images, _ = holdout
    answers = []
    for array in (images[:5], images[:5].reshape(5, 28, 28), images[:5].reshape(5, 1, 28, 28), images[:5] / 255.0):
        response = client.post(
            "/invocations", content=_npy(array), headers={"Content-Type": "application/x-npy", "Accept": "text/csv"}
        )
        assert response.status_code == 200, response.text
        answers.append(response.text)
    assert len(set(answers)) == 1 and answers[0].count("\n") == 5
    response = client.post(
        "/invocations",
        content=_npy(images[:5]),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    probabilities = np.load(io.BytesIO(response.content))
    assert probabilities.shape == (5, 10) and probabilities.dtype == np.float32


def test_csv_multirecord_keeps_lines_aligned(client: TestClient, holdout) -> None:
    images, labels = holdout
    body = "".join(",".join(map(str, row)) + "\n" for row in images).encode()
    response = client.post("/invocations", content=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert response.status_code == 200
    predicted = np.array([int(line) for line in response.text.splitlines()])
    assert predicted.shape == labels.shape and np.mean(predicted == labels) > 0.8


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (b'{"instances": [[1, 2, 3]]}', "application/json", "images have shape (1, 3)"),
        (b'{"instances": [[0.5], [0.5, 0.5]]}', "application/json", "inconsistent shapes"),
        (b'{"instances": [["a"]]}', "application/json", "nested lists of numbers"),
        (b'{"image": []}', "application/json", '{"instances": [image, ...]}'),
        (b"1,2,3\n", "text/csv", "images have shape (1, 3)"),
        (b"not numpy", "application/x-npy", "not a valid .npy array"),
        (_npy_header((0, 10**20)), "application/x-npy", "larger than any array"),
        (_npy_header((10**12,), "|V0"), "application/x-npy", "zero-width"),
        (_npy_header((10**6, 10**6), "|S0"), "application/x-npy", "zero-width"),
        (json.dumps({"instances": [[2.0] * 784]}).encode(), "application/json", "float pixels must be in [0, 1]"),
    ],
)
def test_bad_inputs_are_400(client: TestClient, content: bytes, content_type: str, detail: str) -> None:
    response = client.post("/invocations", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_missing_model_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.tar.gz").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"model.npz not found \(model dir holds: model.tar.gz\)"):
        MnistHandler.load(ServingEnv(paths=MLPaths(tmp_path)))


class _CreatesFile:
    """Unpickling this opens (creates) a file: what a hostile ``model.npz`` could do with any code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def test_a_model_holding_objects_is_refused_without_unpickling(model_root: Path, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_bytes((model_root / "model" / "model.json").read_bytes())
    with np.load(model_root / "model" / "model.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    marker = tmp_path / "unpickled"
    bias = np.empty(len(arrays["predictor/l1/b"]), dtype=object)
    bias[0] = _CreatesFile(marker)
    np.savez(tmp_path / "model" / "model.npz", **(arrays | {"predictor/l1/b": bias}))
    with pytest.raises(ModelLoadError, match=r"holds 'predictor/l1/b' as Python objects"):
        MnistHandler.load(ServingEnv(paths=MLPaths(tmp_path)))
    assert not marker.exists()


def test_a_model_file_that_is_not_an_npz_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    np.save(tmp_path / "model" / "model.npy", np.zeros(3))
    (tmp_path / "model" / "model.npy").rename(tmp_path / "model" / "model.npz")
    with pytest.raises(ModelLoadError, match=r"a single array, not a \.npz file"):
        MnistHandler.load(ServingEnv(paths=MLPaths(tmp_path)))
    (tmp_path / "model" / "model.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelLoadError, match=r"is not a readable \.npz file"):
        MnistHandler.load(ServingEnv(paths=MLPaths(tmp_path)))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 9])
def test_a_few_images_or_many_get_the_probabilities_each_gets_alone(model_root: Path, holdout, count: int) -> None:
    """A few images are predicted one by one, more with one matrix product: either way as each one alone."""
    handler = MnistHandler.load(ServingEnv(paths=MLPaths(model_root), workers=1))
    images = (holdout[0][:count].reshape(count, -1) / 255.0).astype(np.float32)
    alone = np.concatenate([handler.predict(image[np.newaxis]) for image in images])
    together = handler.predict(images)
    assert together.shape == (count, 10)
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    assert (together.argmax(axis=1) == alone.argmax(axis=1)).all()
