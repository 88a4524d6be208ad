"""A model.tar.gz made for AWS's TF Serving container (a TF1 ``simple_save`` model, ``code/inference.py`` and
``code/requirements.txt``) served by the keras-text image: requirements from PyPI before /ping, then handlers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from utils.checks import serving
from utils.containers import TrackedContainer
from utils.data import REPO
from utils.tfs_models import tf1_scaler, tf2_adder, write_code

pytestmark = pytest.mark.container

EXAMPLE = REPO / "examples/tfs-artifact"

INFERENCE = """
    import json
    import requests
    import tabulate  # from code/requirements.txt

    def handler(data, context):
        instances = json.loads(data.read().decode())["values"]
        response = requests.post(context.rest_uri, data=json.dumps({"instances": instances}))
        if response.status_code != 200:
            raise ValueError(response.json()["error"])
        predictions = response.json()["predictions"]
        table = tabulate.tabulate([[v, p[0]] for v, p in zip(instances, predictions)])
        return json.dumps({"predictions": predictions, "table": table, "model": context.rest_uri}), "application/json"
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfs_artifact")
    tf1_scaler(root / "model" / "1", 2.0)
    tf1_scaler(root / "model" / "2", 5.0)
    write_code(root / "model" / "code", INFERENCE, {"requirements.txt": "tabulate==0.9.0\n"})
    return root


def test_the_articles_kind_of_artifact_serves_unchanged(keras_text_image, docker_client, artifact) -> None:
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.serve(artifact, pypi=True)
        tracked.wait_for_ping(timeout_s=240)
        logs = tracked.logs()
        assert "Successfully installed tabulate-0.9.0" in logs
        assert "requirements.txt installed 1 package(s): tabulate==0.9.0" in logs
        assert "installed tabulate==0.9.0 from https://files.pythonhosted.org/" in logs
        url = f"http://127.0.0.1:{tracked.host_port()}"
        latest = requests.post(f"{url}/invocations", json={"values": [1.0, 3.0]}, timeout=30).json()
        assert latest["predictions"] == [[5.0], [15.0]] and "15" in latest["table"]
        older = requests.post(
            f"{url}/invocations",
            json={"values": [1.0]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-version=1"},
            timeout=30,
        ).json()
        assert older["predictions"] == [[2.0]] and older["model"].endswith("/v1/models/model/versions/1:predict")
        wrong = requests.post(f"{url}/invocations", json={"values": ["x"]}, timeout=30)
        assert wrong.status_code == 400 and "cannot convert to float32" in wrong.json()["error"]
    finally:
        tracked.remove()


TABULATE_WHEEL = "sha256:024ca478df22e9340661486f85298cff5f6dcdba14f3813e8830015b9ed1948f"  # PyPI's, for 0.9.0


@pytest.mark.parametrize(
    ("requirements", "installed"),
    [
        (f"tabulate==0.9.0 --hash={TABULATE_WHEEL}\n", "requirements.txt installed 1 package(s): tabulate==0.9.0"),
        ("tabulate==0.9.0\n", "cannot serve: requirements.txt could not be installed: Hashes are required"),
    ],
)
def test_strict_mode_installs_wheels_pinned_by_hash_only(
    keras_text_image, docker_client, tmp_path, requirements, installed
) -> None:
    tf1_scaler(tmp_path / "model" / "1", 2.0)
    write_code(tmp_path / "model" / "code", INFERENCE, {"requirements.txt": requirements})
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.serve(tmp_path, {"MODEL_REQUIREMENTS_STRICT": "true"}, pypi=True)
        if "--hash" in requirements:
            tracked.wait_for_ping(timeout_s=240)
            url = f"http://127.0.0.1:{tracked.host_port()}"
            answer = requests.post(f"{url}/invocations", json={"values": [1.0]}, timeout=30).json()
            assert answer["predictions"] == [[2.0]]
        else:
            assert tracked.wait(timeout_s=120) != 0
        logs = tracked.logs()
        assert "installing code/requirements.txt (strict: --require-hashes --only-binary=:all:)" in logs
        assert installed in logs
    finally:
        tracked.remove()


def test_a_requirement_that_cannot_install_stops_the_container(keras_text_image, docker_client, tmp_path) -> None:
    tf1_scaler(tmp_path / "model" / "1", 2.0)
    write_code(tmp_path / "model" / "code", INFERENCE, {"requirements.txt": "--no-index\nno-such-dist-byoc==1\n"})
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.run("serve", opt_ml=tmp_path)
        assert tracked.wait(timeout_s=120) != 0
        assert "cannot serve: requirements.txt could not be installed" in tracked.logs()
        assert "no-such-dist-byoc==1" in tracked.logs()
    finally:
        tracked.remove()


@pytest.mark.parametrize(
    ("requirements", "environment", "reason"),
    [
        (
            "tabulate==0.9.0\n--extra-index-url https://pypi.example/simple\n",
            {},
            "code/requirements.txt line 2: '--extra-index-url https://pypi.example/simple' is refused: a model's "
            "requirements may not choose where packages come from",
        ),
        (
            "--no-binary :all:\ntabulate==0.9.0\n",
            {"MODEL_REQUIREMENTS_STRICT": "true"},
            "code/requirements.txt line 1: '--no-binary :all:' is refused: "
            "MODEL_REQUIREMENTS_STRICT allows wheels only",
        ),
    ],
)
def test_a_refused_requirements_file_stops_the_container_before_pip_runs(
    keras_text_image, docker_client, tmp_path, requirements, environment, reason
) -> None:
    tf1_scaler(tmp_path / "model" / "1", 2.0)
    write_code(tmp_path / "model" / "code", INFERENCE, {"requirements.txt": requirements})
    tracked = TrackedContainer(docker_client, keras_text_image)
    try:
        tracked.run("serve", opt_ml=tmp_path, environment=environment)
        assert tracked.wait(timeout_s=120) != 0
        logs = tracked.logs()
        (line,) = [line for line in logs.splitlines() if "cannot serve:" in line]
        assert f"cannot serve: {reason}" in line, line
        assert "installing code/requirements.txt" not in logs and "Collecting" not in logs
    finally:
        tracked.remove()


def test_default_handling_and_named_models_without_inference_py(keras_text_image, docker_client, tmp_path) -> None:
    tf1_scaler(tmp_path / "model" / "scaler" / "1", 3.0)
    tf2_adder(tmp_path / "model" / "adder" / "1")
    with serving(docker_client, keras_text_image, tmp_path, workers=2) as url:
        scaled = requests.post(
            f"{url}/invocations",
            data=b"1.0\n2.0\n",
            headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=scaler"},
            timeout=30,
        )
        assert scaled.json() == {"predictions": [[3.0], [6.0]]}
        added = requests.post(
            f"{url}/invocations",
            json={"instances": [{"a": [1.0, 1.0], "b": 1}]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=adder"},
            timeout=30,
        )
        assert added.json() == {"predictions": [{"sum": 13.0, "double": [2.0, 2.0]}]}
        rest = requests.post(f"{url}/v1/models/scaler:predict", json={"instances": [1.0]}, timeout=30)
        assert rest.json() == {"predictions": [[3.0]]}


def test_the_readme_example_artifact_serves(keras_text_image, docker_client, tmp_path: Path) -> None:
    """examples/tfs-artifact, as the image README runs it: make_model.py, then `serve`, then CSV in."""
    root = tmp_path / "opt_ml"
    subprocess.run([sys.executable, str(EXAMPLE / "make_model.py"), str(root / "model")], check=True)
    with serving(docker_client, keras_text_image, root, workers=1) as url:
        answer = requests.post(
            f"{url}/invocations", data=b"0\n100\n-40\n", headers={"Content-Type": "text/csv"}, timeout=30
        )
        assert answer.status_code == 200
        assert answer.json() == [{"fahrenheit": 32.0}, {"fahrenheit": 212.0}, {"fahrenheit": -40.0}]
        refused = requests.post(f"{url}/invocations", data=b"warm\n", headers={"Content-Type": "text/csv"}, timeout=30)
        assert refused.status_code == 400 and "one number" in refused.json()["error"]
