"""The default model (Sudachi words, frozen chiVe vectors) trained in process, then served as the image serves it."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from keras_text.artifact import text_pipeline
from keras_text.backend import tf
from keras_text.text import vectors
from keras_text.training.hyperparameters import Hyperparameters
from keras_text.training.job import VECTORS_ENV, train
from sm_contract import hyperparameters
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, TrainingInterrupted
from utils import keras_model
from utils.checks import StopAfter
from utils.data import set_hyperparameters, write_opt_ml

LABELS = list(keras_model.LABELS)


def test_defaults() -> None:
    hp = hyperparameters.parse(Hyperparameters, {})
    assert (hp.tokenizer, hp.forms, hp.input_len, hp.model_version, hp.freeze_embeddings) == (
        "sudachi",
        ("normalized",),
        64,
        1,
        "auto",
    )
    assert (hp.frozen(False), hp.frozen(True)) == (False, True)
    assert hyperparameters.parse(Hyperparameters, {"freeze-embeddings": "true"}).frozen(False)
    assert hyperparameters.parse(Hyperparameters, {"word-forms": "normalized, surface"}).forms == (
        "normalized",
        "surface",
    )
    with pytest.raises(ConfigurationError, match=r"'tokenizer'='mecab' is not a valid sudachi \| sentencepiece"):
        hyperparameters.parse(Hyperparameters, {"tokenizer": "mecab"})
    with pytest.raises(ConfigurationError, match="'word-forms'='reading' must list some of"):
        hyperparameters.parse(Hyperparameters, {"word-forms": "reading"})
    with pytest.raises(ConfigurationError, match="'validation-split' must be in"):
        hyperparameters.parse(Hyperparameters, {"validation-split": "1.5"})
    with pytest.raises(ConfigurationError, match="'learning-rate' must be > 0"):
        hyperparameters.parse(Hyperparameters, {"learning-rate": "0"})
    with pytest.raises(ConfigurationError, match="'character-coverage' must be in"):
        hyperparameters.parse(Hyperparameters, {"character-coverage": "1.5"})
    with pytest.raises(ConfigurationError, match="'w2v-epochs' must be >= 1"):
        hyperparameters.parse(Hyperparameters, {"w2v-epochs": "0"})


def test_training_outputs(trained_root: Path) -> None:
    model_dir, out = trained_root / "model", trained_root / "output/data"
    assert (model_dir / "1/saved_model.pb").is_file()
    code_files = {p.name for p in (model_dir / "code").iterdir()}
    assert code_files == {
        "inference.py",
        "text_pipeline.py",
        "tokenizer.json",
        "words.tsv",
        "labels.json",
        "requirements.txt",
        "NOTICE",
        "LICENSE-Apache-2.0.txt",
    }
    sources = Path(__file__).resolve().parents[3] / "containers/keras-text/src/keras_text/artifact"
    for name in ("inference.py", "text_pipeline.py"):
        assert (model_dir / "code" / name).read_bytes() == (sources / name).read_bytes()
    pins = (model_dir / "code/requirements.txt").read_text().splitlines()
    assert pins[0] == "numpy" and pins[1].startswith("sudachipy==") and pins[2].startswith("sudachidict-small==")
    meta = json.loads((model_dir / "code/labels.json").read_text(encoding="utf-8"))
    assert meta["labels"] == LABELS and meta["input_len"] == 32
    assert meta["hyperparameters"]["tokenizer"] == "sudachi"
    rows = list(csv.DictReader(io.StringIO((out / "history.csv").read_text())))
    assert [int(r["epoch"]) for r in rows] == list(range(1, int(keras_model.HYPERPARAMETERS["epochs"]) + 1))
    assert {"train_loss", "val_accuracy"} <= set(rows[0])
    metrics = json.loads((out / "test_metrics.json").read_text(encoding="utf-8"))
    assert metrics["rows"] == keras_model.TEST_ROWS == np.asarray(metrics["confusion_matrix"]).sum()
    assert metrics["accuracy"] > 0.6  # the majority class is 36 %
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert not (trained_root / "output/failure").exists()


def test_exported_embedding_is_chive_frozen_by_word_id(trained_root: Path, chive_dir: Path) -> None:
    """code/words.tsv gives a word's row of the SavedModel's embedding: its chiVe vector, unchanged by training."""
    table = vectors.load(chive_dir)
    ids = text_pipeline.parse_words((trained_root / "model/code/words.tsv").read_bytes())
    assert len(ids) == len(table.words)
    loaded = tf.saved_model.load(str(trained_root / "model/1"))
    (embedding,) = [v.numpy() for v in loaded.model_weights if "embedding" in v.name]
    assert embedding.shape == (len(table.vectors) + 2, 300) and not embedding[:2].any()
    for word in ("京都", "携帯", "ラーメン", "試合"):
        np.testing.assert_array_equal(embedding[ids[word]], table.vectors[table.words[word]])


@pytest.fixture(scope="module")
def client(trained_root: Path, serve):
    with serve(trained_root) as test_client:
        yield test_client


def test_the_obvious_sentences_get_their_themes(client) -> None:
    assert client.get("/ping").status_code == 200
    answers = []
    for text in keras_model.OBVIOUS:
        response = client.post("/invocations", json={"q": text})
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        answers.append(response.json())
    keras_model.assert_obvious_right(answers)


def test_lists_and_jsonlines(client) -> None:
    texts = ["電波が悪い", "金閣寺に行った"]
    as_q = client.post("/invocations", json={"q": texts}).json()
    as_instances = client.post("/invocations", json={"instances": texts}).json()
    assert as_q == as_instances and len(as_q) == 2
    single = client.post("/invocations", json={"q": texts[1]}).json()
    assert as_q[1] == single
    body = "".join(json.dumps({"q": t}, ensure_ascii=False) + "\n" for t in texts).encode()
    lines = client.post(
        "/invocations",
        content=body,
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
    )
    assert lines.headers["content-type"] == "application/jsonlines"
    assert [json.loads(line) for line in lines.text.splitlines()] == as_q


def test_jsonlines_texts_may_hold_any_line_separator_but_newline(client) -> None:
    """JSON strings may hold U+2028, U+2029 and U+0085 unescaped: they end no line."""
    texts = ["電波が\u2028悪い", "金閣寺に\u2029行った\x85"]
    body = "".join(json.dumps({"q": t}, ensure_ascii=False) + "\n" for t in texts).encode()
    response = client.post("/invocations", content=body, headers={"Content-Type": "application/jsonlines"})
    assert response.status_code == 200, response.text
    assert response.json() == client.post("/invocations", json={"q": texts}).json()


def test_over_long_text_is_truncated_like_in_training(client) -> None:
    long_text = "電波が悪い。" * 200
    response = client.post("/invocations", json={"q": long_text})
    assert response.status_code == 200
    keras_model.assert_ranked(response.json())


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b'{"q": ""}', {"Content-Type": "application/json"}, 400, "'q' is empty"),
        (b'{"text": "a"}', {"Content-Type": "application/json"}, 400, "missing key 'q'"),
        (b'{"q": 1}', {"Content-Type": "application/json"}, 400, "must be a string"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "not valid UTF-8"),
        (b"{broken", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"", {"Content-Type": "application/json"}, 400, "empty"),
        (b"a,b", {"Content-Type": "text/csv"}, 415, "application/jsonlines"),
        (b'{"q": "a"}', {"Content-Type": "application/json", "Accept": "text/csv"}, 406, "'text/csv' is not supported"),
    ],
)
def test_bad_requests(client, body: bytes, headers: dict[str, str], status: int, detail: str) -> None:
    """The model's inference.py names the status; the server answers the empty body itself."""
    response = client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status
    assert any(detail in message for message in response.json().values())


def _model_code(model_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("tfs_inference_under_test", model_dir / "code/inference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as TF Serving's `import inference` would
    spec.loader.exec_module(module)
    return module


class FakeTFServing:
    """Stands in for TF Serving's REST predict: TensorFlow's SavedModel runtime (not the image's session-based
    one) runs the serving signature on the row format."""

    def __init__(self, version_dir: Path) -> None:
        self.loaded = tf.saved_model.load(str(version_dir))  # kept: the function only weakly holds its variables
        self.function = self.loaded.signatures["serving_default"]

    def predict(self, body: str) -> SimpleNamespace:
        instances = json.loads(body)["instances"]
        tokens = tf.constant([row["tokens"] for row in instances], tf.int32)
        zeros = tf.zeros([len(instances)], tf.int32)
        probs = self.function(tokens=tokens, line=zeros, batched=zeros)["probabilities"].numpy().tolist()
        predictions = [
            {"probabilities": p, "line": row["line"], "batched": row["batched"]}
            for p, row in zip(probs, instances, strict=True)
        ]
        return SimpleNamespace(status_code=200, content=json.dumps({"predictions": predictions}).encode())


@pytest.mark.parametrize(
    ("body", "content_type", "accept"),
    [
        ({"q": "電波が悪い"}, "application/json", "application/json"),
        ({"q": ["ラーメンを食べた", "試合に勝った"]}, "application/json", "application/json"),
    ],
)
def test_tfs_handlers_answer_like_our_server(client, trained_root: Path, body, content_type, accept) -> None:
    code = _model_code(trained_root / "model")
    raw = json.dumps(body, ensure_ascii=False).encode()
    context = SimpleNamespace(request_content_type=content_type, accept_header=accept)
    request_body = code.input_handler(io.BytesIO(raw), context)
    assert set(json.loads(request_body)["instances"][0]) == {"tokens", "line", "batched"}
    response = FakeTFServing(trained_root / "model/1").predict(request_body)
    payload, response_type = code.output_handler(response, context)
    ours = client.post("/invocations", content=raw, headers={"Content-Type": content_type, "Accept": accept})
    assert response_type == accept
    assert json.loads(payload) == ours.json()


def test_interrupted_run_checkpoints_and_resumes(tmp_path: Path, run_job, chive_dir: Path) -> None:
    hps = {**keras_model.SMALL_HYPERPARAMETERS, "epochs": "2"}
    root = write_opt_ml(tmp_path / "opt_ml", hps, keras_model.small_channels())
    env = TrainingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(root), VECTORS_ENV: str(chive_dir)})
    with pytest.raises(TrainingInterrupted, match="stopped during epoch 1"):
        train(env, StopAfter(5))
    state = json.loads((root / "checkpoints/manifest.json").read_text())
    assert state["epoch"] == 1
    assert set(state["files"]) == {"weights.npz", "tokenizer.model", "embeddings.npy"}
    assert not (root / "model/1").exists()
    tokenizer = root / "checkpoints" / state["files"]["tokenizer.model"]["file"]  # this save's generation
    words = tokenizer.read_bytes()  # Sudachi's tokenizer: the word table

    assert run_job(root) == 0
    resumed = json.loads((root / "checkpoints/manifest.json").read_text())
    assert (root / "checkpoints" / resumed["files"]["tokenizer.model"]["file"]).read_bytes() == words
    assert (root / "model/code/words.tsv").read_bytes() == words
    history = json.loads((root / "output/data/history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]

    set_hyperparameters(root, {**hps, "hidden": "8"})
    assert run_job(root) == 1
    assert "hidden: checkpoint 16 vs job 8" in (root / "output/failure").read_text()

    # A checkpoint from before the dictionary was recorded (Sudachi's core one split its texts): not resumed.
    manifest = root / "checkpoints/manifest.json"
    saved = json.loads(manifest.read_text())
    del saved["config"]["dictionary"]
    manifest.write_text(json.dumps(saved))
    set_hyperparameters(root, hps)
    assert run_job(root) == 1
    assert "dictionary: checkpoint None vs job 'small'" in (root / "output/failure").read_text()


def test_bad_data_fails_with_a_one_line_reason(tmp_path: Path, run_job) -> None:
    channels = {"train": {**keras_model.channels()["train"], "labels.csv": b"label\n" + "京都\n".encode() * 3}}
    root = write_opt_ml(tmp_path / "opt_ml", keras_model.HYPERPARAMETERS, channels)
    assert run_job(root) == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith(f"channel 'train': features.csv has {keras_model.TRAIN_ROWS} rows but labels.csv has 3")
