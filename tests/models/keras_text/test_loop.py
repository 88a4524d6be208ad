"""The training loop's schedule: the learning rate per epoch, fine-tuning the embedding after the frozen phase
(kept only when validation improves, resumable from a checkpoint taken in either phase), and class weights."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from keras_text import model as model_lib
from keras_text.backend import keras, tf
from keras_text.training.loop import LoopSettings, Trainer
from sm_contract.checkpoints import CheckpointStore
from sm_contract.environment import TrainingEnv
from sm_contract.errors import TrainingInterrupted
from utils.checks import StopAfter
from utils.data import write_opt_ml

VOCAB, LENGTH = 20, 6
# Frozen epochs on one vector for every word (every text looks the same: nothing to learn, patience 2 stops it
# after 3), then up to 6 epochs with the embedding trained.
FINE_TUNE = LoopSettings(
    8, 20, 0, patience=2, learning_rate=0.01, learning_rate_decay=0.8, fine_tune_epochs=6, fine_tune_learning_rate=0.05
)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()


def _trainer(root: Path, settings: LoopSettings) -> Trainer:
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root)})
    same = np.ones((VOCAB, 4), np.float32)
    network = model_lib.build(
        vocab_size=VOCAB,
        embedding_dim=4,
        input_len=LENGTH,
        hidden=4,
        n_labels=2,
        embeddings=same,
        trainable_embeddings=False,
    )
    text_model = SimpleNamespace(tokenizer=b"table", embeddings=same)
    store = CheckpointStore(env.paths.checkpoints_dir, config={})
    return Trainer(env, settings, network, store, text_model)  # type: ignore[arg-type]


def _data(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Texts of one word repeated, labelled by whether its id is even: learnable only through the embedding."""
    words = np.random.RandomState(0).randint(2, VOCAB, size=n).astype(np.int32)
    return np.repeat(words[:, None], LENGTH, axis=1), (words % 2 == 0).astype(np.int32)


def test_fine_tuning_starts_from_the_frozen_phases_best_and_trains_the_embedding(tmp_path: Path) -> None:
    trainer = _trainer(write_opt_ml(tmp_path / "opt_ml"), FINE_TUNE)
    x, y = _data()
    trainer.fit(x, y, (x[:50], y[:50]), StopAfter(10**6))
    rows = trainer.history.rows
    assert trainer.fine_tune_from == 4
    assert [row["learning_rate"] for row in rows[:3]] == pytest.approx([0.01, 0.008, 0.0064])
    assert [row["learning_rate"] for row in rows[3:]] == pytest.approx([0.05 * 0.8**k for k in range(len(rows) - 3)])
    frozen_best = max(row["val_accuracy"] for row in rows[:3])
    assert trainer.best_accuracy > frozen_best + 0.1  # only the trained embedding can tell the labels apart
    assert trainer.model.get_layer("embedding").trainable
    assert np.abs(trainer.model.get_layer("embedding").get_weights()[0]).sum() > 0


def test_a_run_stopped_while_fine_tuning_resumes_in_that_phase(tmp_path: Path) -> None:
    root = write_opt_ml(tmp_path / "opt_ml")
    x, y = _data()
    first = _trainer(root, FINE_TUNE)
    with pytest.raises(TrainingInterrupted, match="stopped during epoch 4"):
        first.fit(x, y, (x[:50], y[:50]), StopAfter(35))  # 10 steps per epoch: the 6th step of epoch 4
    second = _trainer(root, FINE_TUNE)
    checkpoint = second.store.load()
    assert checkpoint is not None and checkpoint.state["fine_tune_from"] == 4
    second.restore(checkpoint)
    assert second.model.get_layer("embedding").trainable and second.fine_tune_from == 4
    slots = {v.name for v in second.model.optimizer.variables}
    assert any("embedding" in name for name in slots)  # the embedding's nadam slots came back too
    second.fit(x, y, (x[:50], y[:50]), StopAfter(10**6))
    assert [row["epoch"] for row in second.history.rows][:4] == [1, 2, 3, 4]
    assert second.best_accuracy > max(row["val_accuracy"] for row in second.history.rows[:3]) + 0.1


def test_balanced_class_weights_move_a_blind_model_to_even_odds(tmp_path: Path) -> None:
    """With nothing to learn from (one frozen vector for every word), the model learns the label prior: 80/20 without
    weights, 50/50 when both labels weigh the same in the loss."""
    x = np.random.RandomState(0).randint(2, VOCAB, size=(100, LENGTH)).astype(np.int32)
    y = (np.arange(100) < 20).astype(np.int32)  # label 1 for 20 %
    minority = {}
    for weights in (None, (100 / (2 * 80), 100 / (2 * 20))):
        settings = LoopSettings(15, 20, 0, learning_rate=0.05, class_weights=weights)
        trainer = _trainer(write_opt_ml(tmp_path / f"opt_ml_{weights is None}"), settings)
        trainer.fit(x, y, (x[:0], y[:0]), StopAfter(10**6))
        minority[weights is None] = float(trainer.model.predict(x[:1], verbose=0)[0, 1])
    assert minority[True] == pytest.approx(0.2, abs=0.05)
    assert minority[False] == pytest.approx(0.5, abs=0.05)
