"""``make new-image`` in a copy of the repository: the new image builds, passes its own tests and the whole
conformance suite, and runs its batch workflow (training job, model, batch transform, all in SDK local mode) on
moto's Step Functions engine, with no edit but the command.

The copy holds the repository's files (``git ls-files``, with their timestamps, so make rebuilds nothing it has
not to); the tools run from this venv with the copy's ``byoc_pipelines`` first on ``PYTHONPATH``, so they read
the copy's descriptors. The image is built under the tag of the images under test and removed at the end (its
build cache stays, so a second run builds in seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

from utils.data import REPO

pytestmark = pytest.mark.container

NAME = "third"


def _run(command: list[str], cwd: Path, timeout_s: int = 600, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _copy_repository(target: Path) -> Path:
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():  # a file deleted in the work tree is still listed
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    return target


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory, images: dict[str, str]) -> Iterator[tuple[Path, str]]:
    """The copy after ``make new-image NAME=third`` and ``make build/third``; the image's reference."""
    if not images:
        pytest.skip("needs --image NAME=TAG (the Docker layers): the new image is built under the same tag")
    tag = next(iter(images.values())).rsplit(":", 1)[-1]
    root = _copy_repository(tmp_path_factory.mktemp("repository"))
    created = _run(["make", "--no-print-directory", "new-image", f"NAME={NAME}"], root)
    assert f"containers/{NAME}/image.toml" in created.stdout
    refused = subprocess.run(["make", "-s", "new-image", f"NAME={NAME}"], cwd=root, capture_output=True, text=True)
    assert refused.returncode != 0 and f"containers/{NAME} already exists" in refused.stderr
    _run(["make", "--no-print-directory", f"build/{NAME}", f"IMAGE_TAG={tag}"], root, timeout_s=1200)
    reference = f"byoc/{NAME}:{tag}"
    try:
        yield root, reference
    finally:
        subprocess.run(["docker", "rmi", "--force", reference], capture_output=True, check=False)


def _cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "byoc_pipelines.cli", *argv]
    return _run(command, root, timeout_s=900, PYTHONPATH=str(root / "pipelines" / "src"))


def test_the_descriptor_puts_it_everywhere(copy: tuple[Path, str]) -> None:
    root, _ = copy
    names = _run([sys.executable, "-m", "byoc_pipelines.descriptor", "names"], root, PYTHONPATH=f"{root}/pipelines/src")
    assert NAME in names.stdout.split()
    planned = _run(["make", "-n", "build", f"test/{NAME}"], root).stdout
    assert f"scripts/docker/build-image.sh {NAME} " in planned and f"tests/containers/{NAME} --image" in planned
    _run([str(Path(sys.executable).parent / "ruff"), "check", f"containers/{NAME}", f"tests/containers/{NAME}"], root)


def test_its_own_tests_pass_in_its_venv(copy: tuple[Path, str]) -> None:
    """The image's venv (its lock, as the Dockerfile installs it) and its tests, as `make test/third` runs them."""
    root, _ = copy
    venv = root / ".venv" / NAME
    uv = REPO / ".venv" / "uv" / "bin" / "uv"
    _run(["scripts/make-venv.sh", NAME, str(venv)], root, UV=str(uv))
    tests = _run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", f"tests/containers/{NAME}"], root)
    assert re.search(r"\b8 passed\b", tests.stdout), tests.stdout


def test_it_conforms(copy: tuple[Path, str]) -> None:
    root, reference = copy
    done = _cli(root, "conformance", reference)
    assert "conforms: " in done.stdout and " 0 failed" in done.stdout, done.stdout
    report = json.loads(next((root / "build" / "conformance").glob("*/report.json")).read_text())
    assert report["ok"] and report["descriptor"] == str(root / "containers" / NAME / "image.toml")
    results = {check["id"]: check["status"] for check in report["results"]}
    ran = ("T1.pid1", "T2.failure", "T3", "T4", "T5", "T6", "S2.ready", "S5.over-limit", "S6.malformed")
    assert {check: results[check] for check in (*ran, "B.multi-record")} == dict.fromkeys(
        (*ran, "B.multi-record"), "pass"
    )


def test_its_batch_workflow_runs_on_the_local_engine(copy: tuple[Path, str]) -> None:
    root, reference = copy
    done = _cli(root, "local", f"{NAME}-batch", "--image", reference, "--root", str(root / "build" / "run"))
    assert "execution SUCCEEDED" in done.stdout, done.stdout
    accuracy = float(re.findall(r"batch transform of iris\.csv: accuracy ([0-9.]+)", done.stdout)[0])
    assert accuracy >= 0.8  # 20 held-out flowers; a model that failed to learn scores about 0.33
    outputs = list((root / "build" / "run" / "s3").rglob("iris.csv.out"))
    assert len(outputs) == 1 and len(outputs[0].read_text().split()) == 20


def test_it_serves_a_local_endpoint(copy: tuple[Path, str]) -> None:
    """The workflow's model behind a real-time endpoint in SDK local mode, asked the descriptor's requests."""
    from byoc_pipelines.aws import endpoint
    from byoc_pipelines.local.runner import LocalModeRunner
    from byoc_pipelines.local.session import LocalMode
    from byoc_pipelines.sagemaker import requests as sm

    root, reference = copy
    tarballs = sorted((root / "build" / "run" / "s3").rglob("model.tar.gz"))
    if not tarballs:
        pytest.skip("needs the batch workflow's model (test_its_batch_workflow_runs_on_the_local_engine)")
    with LocalMode(root / "build" / "endpoint") as local_mode:
        runner = LocalModeRunner(local_mode)
        runner.call("CreateModel", sm.model("third-model", reference, f"file://{tarballs[-1]}"))
        runner.call("CreateEndpointConfig", sm.endpoint_config("third-config", "third-model"))
        runner.call("CreateEndpoint", {"EndpointName": "third", "EndpointConfigName": "third-config"})
        try:
            assert local_mode.wait_for_endpoint("third")["EndpointStatus"] == "InService"
            client = local_mode.sagemaker_runtime_client
            row = endpoint.invoke(client, "third", b"5.1,3.5,1.4,0.2\n", "text/csv", "text/csv")
            assert row == b"setosa\n"
            two = {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
            answer = endpoint.invoke(client, "third", two)
            assert [p["label"] for p in answer["predictions"]] == ["setosa", "virginica"]
        finally:
            runner.call("DeleteEndpoint", {"EndpointName": "third"})


def test_the_unit_layer_stays_green_once_its_definition_is_rendered(copy: tuple[Path, str]) -> None:
    """The only step besides the command: `make pipeline/render` writes the state machine the golden test reads."""
    root, _ = copy
    rendered = _cli(root, "render", f"{NAME}-batch", "--no-pictures")
    assert f"pipelines/definitions/{NAME}-batch.json" in rendered.stdout
    unit = root / "tests" / "unit" / "pipelines"
    layers = ("test_definitions.py", "test_deploy.py", "test_descriptor.py", "test_image_catalogue.py")
    done = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(unit / name) for name in layers)],
        root,
        PYTHONPATH=f"{root}/pipelines/src",
    )
    assert re.search(r"\b\d+ passed\b", done.stdout) and "failed" not in done.stdout, done.stdout
