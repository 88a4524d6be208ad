"""``byoc_pipelines.descriptor``: the images' ``image.toml``, read with the standard library alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from byoc_pipelines import descriptor
from byoc_pipelines.conformance import inputs

REPO = Path(__file__).resolve().parents[3]
CONTAINERS = REPO / "containers"


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "containers" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.toml"
    path.write_text(text)
    return path


def test_every_image_folder_has_a_descriptor_that_reads() -> None:
    found = descriptor.discover(CONTAINERS)
    assert [d.name for d in found] == sorted(p.parent.name for p in CONTAINERS.glob("*/Dockerfile"))
    for image in found:
        assert image.requests and image.training.hyperparameters and image.training.failing
        assert image.channel("train").required
        assert all(r.body for r in image.requests)
        assert image.batch.record is not None and image.batch.record.body.count(b"\n") <= 1


def test_the_descriptors_name_their_data_and_answers() -> None:
    chainer = descriptor.find(CONTAINERS, "chainer-mnist")
    assert (chainer.outcome, chainer.multi_host, chainer.data_prepare) == ("batch-transform", "mpi", "data")
    assert [c.name for c in chainer.channels] == ["train", "valid", "test"]
    assert chainer.channel("train").source == Path("data/mnist/train")
    assert chainer.requests[0].answer.json == {"predictions": [{"label": 7, "probabilities": [0.5]}]}
    assert len(json.loads(chainer.requests[0].body)["instances"][0]) == 784
    keras = descriptor.find(CONTAINERS, "keras-text")
    assert (keras.outcome, keras.multi_host) == ("endpoint", "multi-worker")
    assert all((REPO / c.source).is_dir() for c in keras.channels if c.source)
    assert [r.custom_attributes for r in keras.requests if r.custom_attributes] == ["tfs-model-name=no-such-model"]


def test_multi_model_says_what_the_image_label_says() -> None:
    """The suite checks the /models API of images labelled for it; the descriptor tells the pipelines the same."""
    label = "com.amazonaws.sagemaker.capabilities.multi-models=true"
    for image in descriptor.discover(CONTAINERS):
        assert image.multi_model == (label in (image.folder / "Dockerfile").read_text()), image.name


def test_smoke_channels_replace_the_workflow_channels_in_the_suite(tmp_path: Path) -> None:
    keras = descriptor.find(CONTAINERS, "keras-text")
    assert keras.training.channels == {"train": Path("datasets/knbc/test")}
    given = inputs.from_options(keras)
    assert given.channels == {"train": REPO / "datasets/knbc/test"} == given.failing_channels
    assert inputs.from_options(keras, {"train": tmp_path}).channels == {"train": tmp_path}
    chainer = inputs.from_options(descriptor.find(CONTAINERS, "chainer-mnist"))
    assert chainer.channels == {name: REPO / "data/mnist" / name for name in ("train", "valid", "test")}


def test_the_reader_needs_only_the_standard_library() -> None:
    """The image venvs and the Makefile read descriptors without the pipelines' dependencies: ``-S`` drops
    site-packages."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "pipelines" / "src")}
    names = subprocess.run(
        [sys.executable, "-S", "-m", "byoc_pipelines.descriptor", "names"], env=env, capture_output=True, text=True
    )
    assert names.returncode == 0, names.stderr
    assert names.stdout.split() == sorted(p.parent.name for p in CONTAINERS.glob("*/image.toml"))
    assert {"chainer-mnist", "keras-text"} <= set(names.stdout.split())
    shown = subprocess.run(
        [sys.executable, "-S", "-m", "byoc_pipelines.descriptor", "show", "keras-text"], env=env, capture_output=True
    )
    assert json.loads(shown.stdout)["training"]["failing"] == {"epochs": "zero"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "demo"\nmulti_hosts = "mpi"\n', "unknown key(s) multi_hosts"),
        ('name = "demo"\noutcome = "stream"\n', "'stream' is not one of batch-transform, endpoint"),
        ('name = "demo"\n[training]\nhyperparameters = { epochs = 3 }\n', "must be a string, as SageMaker sends it"),
        ('name = "demo"\n[channels.train]\nsourc = "x"\n', "channels.train: unknown key(s) sourc"),
        ('name = "demo"\n[[serving.requests]]\ncontent_type = "text/csv"\n', "give exactly one of body and body_file"),
        ('name = "demo"\n[[serving.requests]]\nbody = "1"\n', "content_type: required"),
        (
            'name = "demo"\n[[serving.requests]]\ncontent_type = "text/csv"\nbody_file = "nope.csv"\n',
            "nope.csv does not exist",
        ),
        ('name = "demo"\n[batch]\nmax_payload_mb = 101\n', "MaxPayloadInMB is 1-100"),
        (
            'name = "demo"\n[batch.record]\ncontent_type = "application/x-npy"\nbody = "x"\n',
            "a line-split type",
        ),
        ('name = "demo"\n[[serving.requests]]\ncontent_type = "a"\nbody = "1"\nanswer = { json = "{" }\n', "not JSON"),
        ("name = 3\n", "name: expected str, got int 3"),
        ("summary = 'no name'\n", "name is required"),
        ('name = "demo"\nmulti_model = "yes"\n', "multi_model: expected bool"),
    ],
)
def test_mistakes_are_errors_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(descriptor.DescriptorError, match=r"demo/image\.toml") as caught:
        descriptor.load(path)
    assert message in str(caught.value)


def test_sample_bodies_come_from_files_next_to_the_descriptor(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'name = "demo"\n[[serving.requests]]\ncontent_type = "text/csv"\nbody_file = "samples/one.csv"\n'
        "answer = { status = 200, lines = 1 }\n",
    )
    (path.parent / "samples").mkdir()
    (path.parent / "samples" / "one.csv").write_bytes(b"1,2\n")
    request = descriptor.load(path).requests[0]
    assert (request.name, request.body, request.answer.lines) == ("request 1", b"1,2\n", 1)


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("byoc/chainer-mnist:latest", "chainer-mnist"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc/keras-text@sha256:abc", "keras-text"),
        ("localhost:5000/keras-text", "keras-text"),
        ("someone/else:1", "else"),
    ],
)
def test_an_image_reference_finds_its_descriptor_by_name(reference: str, name: str) -> None:
    assert descriptor.image_name(reference) == name
    found = descriptor.for_image(reference, CONTAINERS)
    assert (found.name if found else None) == (name if (CONTAINERS / name / "image.toml").is_file() else None)
