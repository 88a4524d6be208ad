"""The built-in trainer on 2 hosts (MultiWorkerMirroredStrategy, one worker per host container): both hosts train
the same epochs in step, only the master keeps the outputs and the model, and that model serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from utils import keras_model
from utils.checks import serving
from utils.cluster import host_names, run_hosts
from utils.data import knbc_slice, write_opt_ml

pytestmark = pytest.mark.container

LABELS = set(keras_model.LABELS)
EPOCH_LINE = re.compile(r"epoch=(\d+) train_loss=\S+ train_accuracy=\S+ val_loss=(\S+) val_accuracy=(\S+)")


@pytest.fixture(scope="module")
def two_hosts(keras_text_image, docker_client, tmp_path_factory) -> dict[str, tuple[Path, int, str]]:
    tmp = tmp_path_factory.mktemp("keras_multihost")
    hosts = tuple(host_names(2))
    channels = {"train": knbc_slice("train", 600), "test": knbc_slice("test", 200)}
    roots = {
        host: write_opt_ml(tmp / host, {"epochs": "2", "hidden": "16"}, channels, hosts=hosts, current_host=host)
        for host in hosts
    }
    results = run_hosts(docker_client, keras_text_image, roots, timeout_s=300)
    return {r.host: (roots[r.host], r.exit_code, r.logs) for r in results}


def test_both_hosts_succeed_as_two_workers(two_hosts) -> None:
    (_, master_code, master_logs), (_, worker_code, worker_logs) = two_hosts["algo-1"], two_hosts["algo-2"]
    assert (master_code, worker_code) == (0, 0), master_logs[-4000:] + worker_logs[-4000:]
    assert "2 workers (MultiWorkerMirroredStrategy); this is worker 0, the chief" in master_logs
    assert "2 workers (MultiWorkerMirroredStrategy); this is worker 1, not the chief" in worker_logs
    assert "2 replica(s) in sync, global batch 32 texts" in master_logs


def test_the_workers_train_in_step_and_see_the_same_validation(two_hosts) -> None:
    master, worker = (EPOCH_LINE.findall(two_hosts[h][2]) for h in ("algo-1", "algo-2"))
    assert [int(epoch) for epoch, _, _ in master] == [1, 2]
    assert master == worker  # the strategy reduces the validation: early stopping decides alike everywhere


def test_only_the_master_writes_the_model_and_outputs(two_hosts) -> None:
    master, worker = two_hosts["algo-1"][0], two_hosts["algo-2"][0]
    assert (master / "model/1/saved_model.pb").is_file()
    assert {"inference.py", "text_pipeline.py", "tokenizer.json", "words.tsv", "labels.json"} <= {
        p.name for p in (master / "model/code").iterdir()
    }
    assert {"test_metrics.json", "metrics.json", "history.json"} <= {p.name for p in (master / "output/data").iterdir()}
    assert (master / "checkpoints/manifest.json").is_file()
    assert not any((worker / "model").iterdir())
    assert not (worker / "output/data").exists() or not any((worker / "output/data").iterdir())
    assert not any((worker / "checkpoints").iterdir())


def test_the_master_model_serves(keras_text_image, docker_client, two_hosts) -> None:
    with serving(docker_client, keras_text_image, two_hosts["algo-1"][0], workers=1) as url:
        answer = requests.post(f"{url}/invocations", json={"q": "電波が悪い"}, timeout=60)
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert {item["label"] for item in ranked} == LABELS
        assert abs(sum(item["prob"] for item in ranked) - 1.0) < 1e-2
