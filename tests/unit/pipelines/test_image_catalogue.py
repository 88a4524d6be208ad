"""Images described once: a descriptor alone puts an image into the definitions, the execution inputs and the
local runs' staging and scoring, with no code naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from byoc_pipelines import descriptor
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import graph, inputs
from byoc_pipelines.cli import endpoints
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import ConfigurationError, DefinitionError
from byoc_pipelines.local import staging
from byoc_pipelines.local.s3 import S3Folder

REPO = Path(__file__).resolve().parents[3]
CONFIG = PipelineConfig()

THIRD = """
name = "iris-sklearn"
outcome = "batch-transform"
[data]
s3_prefix = "iris"
[channels.train]
source = "data/iris/train"
[channels.validation]
source = "data/iris/validation"
required = false
[training]
hyperparameters = { C = "1.0" }
[batch]
input = "data/iris/transform"
content_type = "text/csv"
split_type = "Line"
labels = "data/iris/labels.txt"
[[serving.requests]]
content_type = "text/csv"
body = "5.1,3.5,1.4,0.2"
"""

FOURTH = """
name = "reviews"
outcome = "endpoint"
[channels.train]
source = "datasets/reviews/train"
[workflow]
hyperparameters = { epochs = "2" }
[[serving.requests]]
content_type = "application/json"
body = '{"text": "great"}'
"""


def _containers(tmp_path: Path, *texts: str) -> Path:
    for text in texts:
        name = text.split('name = "', 1)[1].split('"', 1)[0]
        (tmp_path / "containers" / name).mkdir(parents=True)
        (tmp_path / "containers" / name / "image.toml").write_text(text)
    return tmp_path / "containers"


def test_the_repository_catalogue_is_the_descriptors() -> None:
    assert list(defs.CATALOGUE) == list(defs.catalogue(REPO / "containers"))  # make new-image adds to it
    assert {"chainer-mnist-batch", "chainer-mnist-batch-lambda", "keras-text-endpoint"} <= set(defs.CATALOGUE)
    assert {name: name.rsplit("-", 2 if "lambda" in name else 1)[0] for name in defs.CATALOGUE} == defs.IMAGE_OF
    with pytest.raises(DefinitionError, match="unknown definition 'nope'; known: chainer-mnist-batch"):
        defs.build("nope", CONFIG)


def test_a_third_descriptor_makes_its_definition_and_input_with_no_code(tmp_path: Path) -> None:
    known = defs.catalogue(_containers(tmp_path, THIRD, FOURTH))
    assert list(known) == ["iris-sklearn-batch", "reviews-endpoint"]
    machine = defs.build("iris-sklearn-batch", CONFIG, known)
    graph.check_graph(machine)
    assert machine["Comment"] == "iris-sklearn: train, create the model, batch transform"
    transform = machine["States"]["Batch Transform"]["Parameters"]["TransformInput"]
    assert (transform["ContentType"], transform["SplitType"]) == ("text/csv", "Line")
    given = inputs.execution_input("iris-sklearn-batch", CONFIG, "byoc/iris-sklearn:1", run="r1", known=known)
    bucket = f"s3://{CONFIG.bucket}"
    assert given["channels"] == [
        {"name": "train", "uri": f"{bucket}/iris/train/"},
        {"name": "validation", "uri": f"{bucket}/iris/validation/"},
    ]
    assert given["hyperparameters"] == {"C": "1.0"}  # the smoke job's, as the descriptor has no [workflow]
    assert given["transform_input"] == f"{bucket}/iris/transform/"
    assert given["outputs"]["transform"].endswith("/iris-sklearn/r1/")
    assert "wait_seconds" not in given


def test_an_endpoint_descriptor_gets_the_endpoint_workflow(tmp_path: Path) -> None:
    known = defs.catalogue(_containers(tmp_path, FOURTH))
    machine = defs.build("reviews-endpoint", CONFIG, known)
    assert "Wait For Endpoint" in machine["States"] and "Batch Transform" not in machine["States"]
    given = inputs.sample_input("reviews-endpoint", CONFIG, known)
    assert given["hyperparameters"]["epochs"] == "2" and given["instance_count"] == 2
    assert given["channels"] == [{"name": "train", "uri": f"s3://{CONFIG.bucket}/reviews/train/"}]  # no prefix
    assert "/code/reviews/" in given["hyperparameters"]["sagemaker_submit_directory"]
    assert given["wait_seconds"] == CONFIG.endpoint_wait_seconds and "transform_input" not in given


def test_the_workflow_table_is_checked(tmp_path: Path) -> None:
    path = _containers(tmp_path, FOURTH.replace('epochs = "2"', "epochs = 2")) / "reviews" / "image.toml"
    with pytest.raises(descriptor.DescriptorError, match=r"workflow\.hyperparameters\.epochs: must be a string"):
        descriptor.load(path)
    path.write_text(FOURTH + "[workflow.extra]\n")
    with pytest.raises(descriptor.DescriptorError, match="unknown"):
        descriptor.load(path)


def test_the_cli_endpoint_default_is_the_one_endpoint_image(tmp_path: Path) -> None:
    assert endpoints.endpoint_image().name == "keras-text"
    assert endpoints.endpoint_image(_containers(tmp_path / "a", THIRD, FOURTH)).name == "reviews"
    two = _containers(tmp_path / "b", FOURTH, FOURTH.replace('"reviews"', '"other"'))
    with pytest.raises(ConfigurationError, match=r"give --name: .* are other, reviews"):
        endpoints.endpoint_image(two)


def test_staging_cuts_every_channel_and_copies_the_transform_input(tmp_path: Path) -> None:
    data = tmp_path / "iris"
    (data / "train").mkdir(parents=True)
    (data / "transform").mkdir()
    (data / "train" / "iris.csv").write_text("a,b,label\n" + "".join(f"{i},{i},x\n" for i in range(500)))
    np.savez(data / "train" / "arrays.npz", images=np.zeros((500, 4)), labels=np.arange(500))
    (data / "transform" / "rows.csv").write_text("1,2\n3,4\n")
    known = defs.catalogue(_containers(tmp_path, THIRD))
    image = known["iris-sklearn-batch"].image
    given = inputs.execution_input("iris-sklearn-batch", CONFIG, known=known)
    s3 = S3Folder(tmp_path / "s3")
    staging.stage(s3, data, given, 120, image)  # the validation channel is optional: absent, skipped
    train = s3.path(given["channels"][0]["uri"])
    assert len((train / "iris.csv").read_text().splitlines()) == 121  # the header and 120 rows
    with np.load(train / "arrays.npz") as npz:
        assert npz["images"].shape == (120, 4) and npz["labels"][-1] == 119
    assert (s3.path(given["transform_input"]) / "rows.csv").read_text() == "1,2\n3,4\n"
    assert staging.channel_sizes(["train", "valid"], 2000) == {"train": 2000, "valid": 400}
    (data / "train").rename(data / "elsewhere")
    with pytest.raises(FileNotFoundError, match="channel 'train' of iris-sklearn: no folder"):
        staging.stage(s3, data, given, 120, image)


def test_transform_scores_against_npy_or_text_labels(tmp_path: Path) -> None:
    out = tmp_path / "rows.csv.out"
    out.write_text("setosa\nvirginica\nsetosa\n")
    (tmp_path / "labels.txt").write_text("setosa\nvirginica\nversicolor\n")
    assert staging.accuracy([out], tmp_path / "labels.txt") == pytest.approx(2 / 3)
    digits = tmp_path / "test.npy.out"
    digits.write_text("7\n2\n1\n0\n")
    np.save(tmp_path / "labels.npy", np.array([7, 2, 1, 1]))
    assert staging.accuracy([digits], tmp_path / "labels.npy") == 0.75
    np.save(tmp_path / "short.npy", np.array([7, 2]))
    with pytest.raises(ValueError, match="4 labels, expected 2"):
        staging.accuracy([digits], tmp_path / "short.npy")


def test_the_descriptors_drive_the_two_images_as_before() -> None:
    """The catalogue from image.toml sends what the two images' workflows always sent."""
    chainer = inputs.execution_input("chainer-mnist-batch", CONFIG)
    assert [c["name"] for c in chainer["channels"]] == ["train", "valid", "test"]
    assert chainer["hyperparameters"] == {"epochs": "1", "units": "50"}
    keras = inputs.execution_input("keras-text-endpoint", CONFIG)
    assert keras["channels"][0]["uri"] == f"s3://{CONFIG.bucket}/knbc/train/"
    assert json.dumps(keras["hyperparameters"]) == json.dumps(
        {"epochs": "1", "hidden": "16", "embedding-dim": "32", "vocab-size": "2000"}
    )
