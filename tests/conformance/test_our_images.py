"""Both images pass every check that applies to them (``--image NAME=TAG``; skipped without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from byoc_pipelines import descriptor
from byoc_pipelines.conformance import inputs, multimodel, serverless
from byoc_pipelines.conformance.context import Options
from byoc_pipelines.conformance.runner import Run

pytestmark = pytest.mark.container

# What does not apply: the opt-in serverless profile, custom attributes for a model whose answer does not depend
# on them (chainer-mnist), the multi-model API for an image not labelled for it (keras-text).
NOT_APPLICABLE = {
    "chainer-mnist": {*serverless.IDS, "S4.custom-attributes"},
    "keras-text": {*multimodel.IDS, *serverless.IDS},
}


@pytest.mark.parametrize("name", sorted(NOT_APPLICABLE))
def test_the_image_passes_every_applicable_check(images: dict[str, str], name: str, tmp_path: Path) -> None:
    if name not in images:
        pytest.skip(f"no --image {name}=TAG given")
    found = descriptor.for_image(images[name])
    assert found is not None and found.name == name
    report = Run(images[name], inputs.from_options(found), Options(), tmp_path).execute()
    problems = {r.check.id: f"{r.measured} | {r.detail}" for r in report.results if r.status.value == "fail"}
    assert report.ok, problems
    skipped = {r.check.id for r in report.results if r.status.value == "skip"}
    assert skipped <= NOT_APPLICABLE[name], {r.check.id: r.detail for r in report.results if r.check.id in skipped}
