"""The Keras article's training script, rewritten for TensorFlow 2 and the keras-text image's script mode.

SentencePiece (trained here on the job's sentences) stands in for ``text-vectorian``, which needs the network;
the network is the article's: Embedding -> SeqSelfAttention -> BiLSTM -> Dense -> Dropout -> softmax. On several
hosts with ``sagemaker_multi_worker_mirrored_strategy_enabled`` the image gives every host a ``TF_CONFIG`` and
``MultiWorkerMirroredStrategy`` trains data-parallel. The chief writes a SavedModel to ``SM_MODEL_DIR/1`` and this
folder's ``code/`` (its own ``inference.py``) next to it: the ``model.tar.gz`` AWS's TF Serving container serves.

    python train.py --epochs 10 --vocab-size 2000     # inside the image: hyperparameters arrive as arguments
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras is Keras 2 (tf-keras), which keras-self-attention uses
os.environ.setdefault("TF_KERAS", "1")

import numpy as np
import sentencepiece as spm
import tensorflow as tf
from keras_self_attention import SeqSelfAttention
from tensorflow import keras

HERE = os.path.dirname(os.path.abspath(__file__))


def read_channel(folder: str) -> tuple[list[str], list[str]]:
    def column(name: str, key: str) -> list[str]:
        with open(os.path.join(folder, name), encoding="utf-8-sig", newline="") as handle:
            return [row[key] for row in csv.DictReader(handle)]

    return column("features.csv", "feature"), column("labels.csv", "label")


def pad(ids: list[int], length: int) -> list[int]:
    kept = ids[:length]
    return [0] * (length - len(kept)) + kept


def build(vocab: int, max_len: int, dim: int, units: int, labels: int) -> keras.Model:
    inputs = keras.Input(shape=(max_len,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, dim)(inputs)
    x = SeqSelfAttention(attention_type=SeqSelfAttention.ATTENTION_TYPE_MUL)(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
    x = keras.layers.Dense(2 * units, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(labels, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="nadam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--units", type=int, default=32)
    # TensorFlow containers pass --model_dir; the SavedModel goes to SM_MODEL_DIR all the same.
    parser.add_argument("--model_dir", default=None)
    args = parser.parse_args()

    cluster = json.loads(os.environ.get("TF_CONFIG", "{}"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if cluster else tf.distribute.get_strategy()
    chief = not cluster or cluster["task"]["index"] == 0
    print(f"{strategy.num_replicas_in_sync} replica(s); this worker is {'the chief' if chief else 'not the chief'}")

    texts, labels = read_channel(os.environ["SM_CHANNEL_TRAIN"])
    work = tempfile.mkdtemp()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_prefix=os.path.join(work, "tokenizer"),
        vocab_size=args.vocab_size,
        hard_vocab_limit=False,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        num_threads=1,
        minloglevel=2,
    )  # deterministic: every worker trains the same tokenizer
    tokenizer = spm.SentencePieceProcessor(model_file=os.path.join(work, "tokenizer.model"))
    names = sorted(set(labels))
    x = np.asarray([pad(tokenizer.encode(t), args.max_len) for t in texts], dtype=np.int32)
    y = np.asarray([names.index(label) for label in labels], dtype=np.int32)

    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(args.batch_size)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    with strategy.scope():
        model = build(tokenizer.get_piece_size(), args.max_len, args.dim, args.units, len(names))
    model.fit(data.with_options(options), epochs=args.epochs, verbose=2)

    # The chief exports a copy built outside the strategy (no worker devices in the graph); the other workers
    # have nothing to keep.
    if chief:
        target = os.path.join(os.environ["SM_MODEL_DIR"], "1")
        plain = build(tokenizer.get_piece_size(), args.max_len, args.dim, args.units, len(names))
        plain.set_weights(model.get_weights())
        serve = tf.function(lambda tokens: {"probabilities": plain(tokens, training=False)})
        signature = serve.get_concrete_function(tf.TensorSpec([None, args.max_len], tf.int32, name="tokens"))
        tf.saved_model.save(plain, target, signatures={"serving_default": signature})
        code = shutil.copytree(os.path.join(HERE, "code"), os.path.join(os.environ["SM_MODEL_DIR"], "code"))
        shutil.copyfile(os.path.join(work, "tokenizer.model"), os.path.join(code, "tokenizer.model"))
        with open(os.path.join(code, "labels.json"), "w", encoding="utf-8") as handle:
            json.dump({"labels": names, "max_len": args.max_len}, handle, ensure_ascii=False)
        print(f"model saved to {target}; labels {names}")


if __name__ == "__main__":
    main()
