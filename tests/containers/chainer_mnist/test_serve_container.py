"""`docker run IMAGE serve` answering real HTTP requests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from utils.checks import assert_serve_fails_without_model, assert_serve_stops_on_sigterm, serving
from utils.containers import TrackedContainer

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def url(chainer_mnist_image, docker_client, trained_root: Path) -> Iterator[str]:
    with serving(docker_client, chainer_mnist_image, trained_root) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def holdout(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(mnist_dir / "valid" / "valid.npz") as npz:
        return npz["images"][2000:2300], npz["labels"][2000:2300]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_ping_and_execution_parameters(url: str) -> None:
    assert requests.get(f"{url}/ping", timeout=2).status_code == 200
    assert requests.get(f"{url}/execution-parameters", timeout=2).json() == {
        "MaxConcurrentTransforms": 3,  # 2 workers and one request waiting
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 1,
    }


def test_three_content_types_agree(url: str, holdout) -> None:
    images, labels = holdout
    batch = images[:20]
    as_json = requests.post(f"{url}/invocations", json={"instances": batch.tolist()}, timeout=10)
    as_npy = requests.post(
        f"{url}/invocations",
        data=_npy(batch.reshape(20, 1, 28, 28)),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
        timeout=10,
    )
    as_csv = requests.post(
        f"{url}/invocations",
        data="".join(",".join(map(str, r)) + "\n" for r in batch),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        timeout=10,
    )
    assert [r.status_code for r in (as_json, as_npy, as_csv)] == [200, 200, 200]
    json_labels = [p["label"] for p in as_json.json()["predictions"]]
    assert as_npy.headers["content-type"] == "application/x-npy"
    assert np.load(io.BytesIO(as_npy.content)).argmax(axis=1).tolist() == json_labels
    assert [int(x) for x in as_csv.text.splitlines()] == json_labels
    assert np.mean(np.array(json_labels) == labels[:20]) >= 0.8


def test_multirecord_batch_keeps_records_aligned(url: str, holdout) -> None:
    """What batch transform sends with SplitType=Line, BatchStrategy=MultiRecord: many lines in one POST."""
    images, labels = holdout
    body = "".join(",".join(map(str, r)) + "\n" for r in images)
    response = requests.post(
        f"{url}/invocations", data=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"}, timeout=30
    )
    predicted = np.array([int(x) for x in response.text.splitlines()])
    assert predicted.shape == labels.shape
    assert np.mean(predicted == labels) > 0.85  # misaligned records would score about 0.1


def test_concurrent_requests_get_the_answers_they_get_alone(url: str, holdout) -> None:
    """Requests that arrive together are predicted in one call: each answer is still its own, and a bad request
    mixed in gets its own 400."""
    images, _ = holdout
    bodies: list[object] = [[images[i].tolist()] for i in range(64)]
    bodies[::9] = [[[0, 1]]] * len(bodies[::9])  # not an image: a 400 among the others
    with requests.Session() as session:
        alone = [session.post(f"{url}/invocations", json=body, timeout=10) for body in bodies]

    def call(body: object) -> requests.Response:
        return requests.post(f"{url}/invocations", json=body, timeout=10)

    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(call, bodies * 3))
    for i, response in enumerate(together):
        single = alone[i % len(bodies)]
        assert response.status_code == single.status_code == (400 if i % len(bodies) % 9 == 0 else 200)
        if response.status_code == 400:
            assert set(response.json()) == {"error", "detail"}
            continue
        (got,), (expected,) = response.json()["predictions"], single.json()["predictions"]
        assert got["label"] == expected["label"]
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        (b"\x89PNG", {"Content-Type": "image/png"}, 415),
        (b"[[0]]", {"Content-Type": "application/json", "Accept": "image/png"}, 406),
        (b"[[0, 1]]", {"Content-Type": "application/json"}, 400),
        (b"{broken", {"Content-Type": "application/json"}, 400),
        (b"", {"Content-Type": "text/csv"}, 400),
        (b"0," * (3 * 1024 * 1024 + 1), {"Content-Type": "text/csv"}, 413),
    ],
)
def test_bad_inputs(url: str, data: bytes, headers: dict[str, str], status: int) -> None:
    response = requests.post(f"{url}/invocations", data=data, headers=headers, timeout=30)
    assert response.status_code == status
    assert set(response.json()) == {"error", "detail"}


def test_sigterm_stops_the_server_before_the_kill(chainer_mnist_image, docker_client, trained_root: Path) -> None:
    assert_serve_stops_on_sigterm(docker_client, chainer_mnist_image, trained_root)


def test_missing_model_fails_at_start(chainer_mnist_image, docker_client, tmp_path: Path) -> None:
    assert_serve_fails_without_model(docker_client, chainer_mnist_image, tmp_path, "model.npz not found")


class _CreatesFile:
    """Unpickled, this creates a file: a stand-in for any code a hostile ``model.npz`` could run at start."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (self.path, "w")


def test_a_model_holding_pickled_objects_never_runs_them(
    chainer_mnist_image, docker_client, trained_root: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_bytes((trained_root / "model" / "model.json").read_bytes())
    with np.load(trained_root / "model" / "model.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    bias = np.empty(len(arrays["predictor/l1/b"]), dtype=object)
    bias[0] = _CreatesFile("/opt/ml/model/unpickled")
    np.savez(model / "model.npz", **(arrays | {"predictor/l1/b": bias}))
    tracked = TrackedContainer(docker_client, chainer_mnist_image)
    try:
        tracked.run("serve", opt_ml=tmp_path)
        assert tracked.wait(timeout_s=120) != 0
        assert "holds 'predictor/l1/b' as Python objects" in tracked.logs()
    finally:
        tracked.remove()
    assert not (model / "unpickled").exists()
