"""keras-text as a TensorFlow framework image: the article's script in script mode on one and two hosts, and the
``model.tar.gz`` it makes served through its own ``code/inference.py``, as by AWS's TF Serving container."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from utils import keras_model
from utils.checks import serving
from utils.cluster import run_hosts
from utils.data import REPO, knbc_slice, write_opt_ml

pytestmark = pytest.mark.container

EXAMPLE = REPO / "examples" / "keras-script"
QUERY = {"q": "電波が悪い"}
LABELS = set(keras_model.LABELS)


def _hosts(tmp_path: Path, count: int, hps: dict[str, str]) -> dict[str, Path]:
    hosts = tuple(f"algo-{i}" for i in range(1, count + 1))
    roots = {}
    for host in hosts:
        root = write_opt_ml(
            tmp_path / host,
            {"sagemaker_program": "train.py", "sagemaker_submit_directory": "/opt/ml/code", **hps},
            {"train": knbc_slice("train", 600)},
            hosts=hosts,
            current_host=host,
        )
        shutil.copytree(EXAMPLE, root / "code")
        roots[host] = root
    return roots


@pytest.fixture(scope="module")
def one_host_model(keras_text_image, docker_client, tmp_path_factory) -> Path:
    roots = _hosts(tmp_path_factory.mktemp("keras_script"), 1, {"epochs": "2"})
    (result,) = run_hosts(docker_client, keras_text_image, roots)
    assert result.exit_code == 0, result.logs
    assert "running /opt/venv/bin/python train.py --epochs 2 --model_dir /opt/ml/model" in result.logs
    assert "1 replica(s); this worker is the chief" in result.logs
    return roots["algo-1"]


def test_the_script_writes_a_tf_serving_model_tar(one_host_model: Path) -> None:
    model = one_host_model / "model"
    assert (model / "1" / "saved_model.pb").is_file()
    assert {"inference.py", "requirements.txt", "tokenizer.model", "labels.json"} <= {
        p.name for p in (model / "code").iterdir()
    }


def test_two_hosts_train_with_multi_worker_mirrored_strategy(keras_text_image, docker_client, tmp_path) -> None:
    roots = _hosts(tmp_path, 2, {"epochs": "1", "sagemaker_multi_worker_mirrored_strategy_enabled": "true"})
    master, worker = run_hosts(docker_client, keras_text_image, roots)
    assert (master.exit_code, worker.exit_code) == (0, 0), master.logs + worker.logs
    assert "2 replica(s); this worker is the chief" in master.logs
    assert "2 replica(s); this worker is not the chief" in worker.logs
    assert "--model_dir /tmp/sm-worker-model" in worker.logs  # the worker's copy goes elsewhere
    assert (roots["algo-1"] / "model/1/saved_model.pb").is_file()
    assert not any((roots["algo-2"] / "model").iterdir())


def test_its_handler_serves_through_the_rest_api_in_process(keras_text_image, docker_client, one_host_model) -> None:
    with serving(docker_client, keras_text_image, one_host_model, workers=1) as url:
        answer = requests.post(f"{url}/invocations", json=QUERY, timeout=60)
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert {item["label"] for item in ranked} == LABELS
        assert [item["prob"] for item in ranked] == sorted((item["prob"] for item in ranked), reverse=True)
        refused = requests.post(f"{url}/invocations", data=b"x", headers={"Content-Type": "text/plain"}, timeout=30)
        assert refused.status_code == 400 and "not supported" in refused.json()["error"]
        status = requests.get(f"{url}/v1/models/model", timeout=30).json()
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
