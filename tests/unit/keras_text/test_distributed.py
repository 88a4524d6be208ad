"""The cluster as keras_text.distributed reads it from TF_CONFIG (one worker per host, the first the chief)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from keras_text.training import distributed


def _tf_config(index: int, workers: int = 2) -> str:
    hosts = [f"algo-{i}:8890" for i in range(1, workers + 1)]
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})


def test_without_tf_config_one_worker_is_the_chief(monkeypatch) -> None:
    monkeypatch.delenv(distributed.TF_CONFIG_VAR, raising=False)
    assert (distributed.workers(), distributed.is_chief()) == (1, True)
    assert distributed.describe() == "1 worker (one host)"
    assert distributed.total(None, 3.0) == 3.0  # one worker: no collective, the value itself


@pytest.mark.parametrize(("index", "chief", "role"), [(0, True, "the chief"), (1, False, "not the chief")])
def test_tf_config_names_the_workers_and_the_chief(monkeypatch, index: int, chief: bool, role: str) -> None:
    monkeypatch.setenv(distributed.TF_CONFIG_VAR, _tf_config(index))
    assert (distributed.workers(), distributed.is_chief()) == (2, chief)
    assert distributed.describe() == f"2 workers (MultiWorkerMirroredStrategy); this is worker {index}, {role}"


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]"])
def test_a_malformed_tf_config_is_one_worker(monkeypatch, raw: str) -> None:
    monkeypatch.setenv(distributed.TF_CONFIG_VAR, raw)
    assert (distributed.workers(), distributed.is_chief()) == (1, True)


def test_scratch_paths_are_outside_opt_ml(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    paths = distributed.scratch_paths()
    assert paths.output_data_dir == tmp_path / "keras-text-worker" / "output" / "data"
