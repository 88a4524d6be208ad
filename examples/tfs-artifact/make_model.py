"""Write a model.tar.gz tree as AWS's TensorFlow Serving container takes it, to serve in the keras-text image.

A TF1 graph saved with ``simple_save`` (the format of most artifacts made for that container), version 1:
``celsius`` (float, ``[None]``) -> ``fahrenheit`` = celsius * 1.8 + 32, plus ``code/`` with its handlers.

    .venv/keras-text/bin/python examples/tfs-artifact/make_model.py build/tfs-model
    docker run --rm -p 8080:8080 -v $PWD/build/tfs-model:/opt/ml/model byoc/keras-text:latest serve
    curl -s -H 'Content-Type: text/csv' --data-binary $'0\\n100\\n-40' localhost:8080/invocations
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import tensorflow as tf

HERE = Path(__file__).resolve().parent


def save_tf1_model(directory: Path) -> None:
    graph = tf.Graph()
    with graph.as_default():
        celsius = tf.compat.v1.placeholder(tf.float32, [None], name="celsius")
        scale = tf.compat.v1.get_variable("scale", initializer=tf.constant(1.8))
        offset = tf.compat.v1.get_variable("offset", initializer=tf.constant(32.0))
        fahrenheit = tf.identity(celsius * scale + offset, name="fahrenheit")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.saved_model.simple_save(
                session, str(directory), inputs={"celsius": celsius}, outputs={"fahrenheit": fahrenheit}
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (what model.tar.gz would extract to)")
    out = parser.parse_args().out
    if out.exists():
        shutil.rmtree(out)
    save_tf1_model(out / "1")
    shutil.copytree(HERE / "code", out / "code")
    print(f"{out}: 1/saved_model.pb, code/inference.py")


if __name__ == "__main__":
    main()
