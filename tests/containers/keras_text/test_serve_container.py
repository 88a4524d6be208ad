"""`docker run IMAGE serve` on the test model the image trained, answering real HTTP requests in Japanese."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from utils import keras_model
from utils.checks import assert_serve_fails_without_model, assert_serve_stops_on_sigterm
from utils.containers import TrackedContainer

pytestmark = pytest.mark.container


def test_the_obvious_sentences_get_their_themes(url: str) -> None:
    """One request per sentence, as a client asks: each answer ranks every label, the right one on top."""
    answers = []
    for text in keras_model.OBVIOUS:
        response = requests.post(f"{url}/invocations", json={"q": text}, timeout=10)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        answers.append(response.json())
    keras_model.assert_obvious_right(answers)


def test_batch_and_jsonlines_agree(url: str) -> None:
    texts = list(keras_model.OBVIOUS)
    batch = requests.post(f"{url}/invocations", json={"instances": texts}, timeout=10).json()
    keras_model.assert_obvious_right(batch)
    body = "".join(json.dumps({"q": t}, ensure_ascii=False) + "\n" for t in texts).encode()
    lines = requests.post(
        f"{url}/invocations",
        data=body,
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
        timeout=10,
    )
    assert lines.status_code == 200
    assert [json.loads(line) for line in lines.text.splitlines()] == batch


def test_concurrent_requests(url: str) -> None:
    def call(i: int) -> int:
        return requests.post(f"{url}/invocations", json={"q": f"携帯電話の電池{i}"}, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(48))) == {200}


@pytest.mark.parametrize(
    ("data", "headers", "status", "named"),
    [
        (b'{"q": ""}', {"Content-Type": "application/json"}, 400, "'q' is empty"),
        ('{"text": "電波"}'.encode(), {"Content-Type": "application/json"}, 400, "missing key 'q'"),
        (b"\xff\xfe\xfd", {"Content-Type": "application/json"}, 400, "not valid UTF-8"),
        (b'{"q": 3}', {"Content-Type": "application/json"}, 400, "must be a string"),
        (b"q,text", {"Content-Type": "text/csv"}, 415, "'text/csv' is not supported"),
        (b'{"q": "a"}', {"Content-Type": "application/json", "Accept": "image/png"}, 406, "'image/png'"),
    ],
)
def test_bad_inputs(url: str, data: bytes, headers: dict[str, str], status: int, named: str) -> None:
    """TF Serving's container's error format, with the status our inference.py names."""
    response = requests.post(f"{url}/invocations", data=data, headers=headers, timeout=10)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"] and named in body["error"]


def test_sigterm_stops_the_server_before_the_kill(keras_text_image, docker_client, trained) -> None:
    assert_serve_stops_on_sigterm(docker_client, keras_text_image, trained.root)


def test_the_image_meets_the_models_requirements_so_serve_starts_without_pip(
    keras_text_image, docker_client, trained
) -> None:
    """The model's code/requirements.txt (for AWS's TF Serving container) names NumPy unpinned and the image's
    Sudachi packages: the image has them all, so the workers start without pip's start-up and index look-ups."""
    assert "numpy\n" in (trained.root / "model/code/requirements.txt").read_text()
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.run("serve", opt_ml=trained.root, ports={"8080/tcp": ("127.0.0.1", None)})
        tracked.wait_for_ping(timeout_s=120)
        logs = tracked.logs()
        assert "code/requirements.txt: the image meets every requirement; nothing to install" in logs, logs
        assert "installing code/requirements.txt" not in logs and "Requirement already satisfied" not in logs
    finally:
        tracked.remove()


def test_a_model_of_sudachis_core_dictionary_serves_with_it(
    keras_text_image, docker_client, trained, tmp_path: Path
) -> None:
    """Models of earlier versions of the image name the core dictionary in code/tokenizer.json and pin
    sudachidict-core in code/requirements.txt: serve installs it from PyPI and the model tokenizes with it."""
    shutil.copytree(trained.root / "model", tmp_path / "model")
    code = tmp_path / "model/code"
    settings = json.loads((code / "tokenizer.json").read_text())
    assert settings["dictionary"] == "small"
    (code / "tokenizer.json").write_text(json.dumps({**settings, "dictionary": "core"}))
    pins = (code / "requirements.txt").read_text()
    (code / "requirements.txt").write_text(pins.replace("sudachidict-small==", "sudachidict-core=="))
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.serve(tmp_path, pypi=True)
        tracked.wait_for_ping(timeout_s=240)
        assert "requirements.txt installed 1 package(s): sudachidict-core==" in tracked.logs()
        url = f"http://127.0.0.1:{tracked.host_port()}"
        answer = requests.post(f"{url}/invocations", json={"instances": list(keras_model.OBVIOUS)}, timeout=30)
        keras_model.assert_obvious_right(answer.json())
    finally:
        tracked.remove()


def test_missing_model_fails_at_start(keras_text_image, docker_client, tmp_path: Path) -> None:
    assert_serve_fails_without_model(docker_client, keras_text_image, tmp_path, "no <version>/saved_model.pb")
