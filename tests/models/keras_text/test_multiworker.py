"""The training loop as a worker of a multi-host job runs it: stops only between epochs, and only when the workers
agree (``total`` stands in for the strategy's all-reduce); a worker that is not the chief writes nothing of the
job's."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from keras_text import model as model_lib
from keras_text.training.loop import LoopSettings, Trainer
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import TrainingInterrupted
from utils.checks import StopAfter
from utils.data import write_opt_ml


def _trainer(root: Path, *, chief: bool, totals: list[float]) -> Trainer:
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    network = model_lib.build(vocab_size=50, embedding_dim=8, input_len=6, hidden=4, n_labels=2)
    text_model = SimpleNamespace(tokenizer=b"table", embeddings=np.zeros((50, 8), np.float32))

    def total(value: float) -> float:  # two workers, the other one never asked to stop
        totals.append(value)
        return value

    store = CheckpointStore(env.paths.checkpoints_dir, config={})
    return Trainer(env, LoopSettings(3, 8, 0), network, store, text_model, chief=chief, total=total)  # type: ignore[arg-type]


def _data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    return rng.randint(1, 50, size=(n, 6)).astype(np.int32), rng.randint(0, 2, size=n).astype(np.int32)


def test_a_stop_request_ends_the_run_after_the_epoch_all_workers_agree_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    root = write_opt_ml(tmp_path / "opt_ml")
    totals: list[float] = []
    trainer = _trainer(root, chief=True, totals=totals)
    x, y = _data()
    with pytest.raises(TrainingInterrupted, match="stopped after epoch 1"):
        trainer.fit(x, y, (x[:8], y[:8]), StopAfter(0))  # requested from the start: the epoch still completes
    assert totals == [1.0]
    assert [row["epoch"] for row in trainer.history.rows] == [1]
    assert (root / "checkpoints/manifest.json").is_file()  # the chief's checkpoint: a new job resumes at epoch 2
    assert (root / "output/data/history.json").is_file()


def test_a_worker_that_is_not_the_chief_keeps_nothing_in_opt_ml(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    root = write_opt_ml(tmp_path / "opt_ml")
    totals: list[float] = []
    trainer = _trainer(root, chief=False, totals=totals)
    x, y = _data()
    trainer.fit(x, y, (x[:8], y[:8]), StopAfter(10**6))
    assert totals == [0.0, 0.0, 0.0]  # one agreement per epoch, nobody asked to stop
    assert not any((root / "checkpoints").iterdir())
    assert not (root / "output/data").exists() or not any((root / "output/data").iterdir())
    assert (tmp_path / "tmp/keras-text-worker/output/data/history.json").is_file()
