"""SavedModels like the ones AWS's TF Serving container serves: TF1 (``simple_save``) and TF2, several signatures."""

from __future__ import annotations

import textwrap
from pathlib import Path

import tensorflow as tf


def tf1_scaler(directory: Path, factor: float) -> Path:
    """TF1 graph: ``y = x * factor`` with ``x`` declared ``(None, 1)`` (TF Serving feeds row scalars into it)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 1], name="x")
        weight = tf.compat.v1.get_variable("weight", initializer=tf.constant([[factor]]))
        y = tf.identity(tf.matmul(tf.reshape(x, [-1, 1]), weight), name="y")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.saved_model.simple_save(session, str(directory), inputs={"x": x}, outputs={"y": y})
    return directory


def tf1_half_plus_three(directory: Path) -> Path:
    """TF1 graph like TF Serving's test model half_plus_three: ``y = x / 2 + 3`` for ``x`` of any shape."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, name="x")
        y = tf.identity(x * 0.5 + 3.0, name="y")
        with tf.compat.v1.Session(graph=graph) as session:
            tf.compat.v1.saved_model.simple_save(session, str(directory), inputs={"x": x}, outputs={"y": y})
    return directory


class _Adder(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = tf.Variable(10.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None], tf.int32)])
    def serve(self, a: tf.Tensor, b: tf.Tensor) -> dict[str, tf.Tensor]:
        total = tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32) + self.bias
        return {"sum": total, "double": a * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def shout(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"loud": tf.strings.upper(text), "loud_bytes": tf.strings.upper(text)}


def tf2_adder(directory: Path) -> Path:
    """TF2 module: ``serving_default`` (inputs a, b; outputs sum, double) and ``shout`` (strings)."""
    module = _Adder()
    serve = module.serve.get_concrete_function()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": serve, "shout": module.shout})
    return directory


def tf1_classifier(directory: Path) -> Path:
    """TF1 graph with classify and regress signatures on serialized ``tf.train.Example``s (feature ``x``)."""
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        x = features["x"]
        scores = tf.concat([tf.sigmoid(x), 1 - tf.sigmoid(x)], axis=1, name="scores")
        classes = tf.tile(tf.constant([["yes", "no"]]), [tf.shape(x)[0], 1], name="classes")
        value = tf.identity(x * 2.0, name="value")
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        builder = tf.compat.v1.saved_model.Builder(str(directory))
        with tf.compat.v1.Session(graph=graph) as session:
            classify = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                {"inputs": info(serialized)},
                {"scores": info(scores), "classes": info(classes)},
                "tensorflow/serving/classify",
            )
            regress = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                {"inputs": info(serialized)}, {"outputs": info(value)}, "tensorflow/serving/regress"
            )
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": classify, "regress": regress}
            )
        builder.save()
    return directory


def write_code(code_dir: Path, inference: str, files: dict[str, str] | None = None) -> Path:
    """``code/inference.py`` (dedented) and any other files under ``code/`` (e.g. ``lib/helper.py``)."""
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "inference.py").write_text(textwrap.dedent(inference))
    for name, content in (files or {}).items():
        (code_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (code_dir / name).write_text(textwrap.dedent(content))
    return code_dir
