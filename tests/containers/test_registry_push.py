"""A real `docker push` of the chainer-mnist image through `python -m byoc_pipelines.cli push`.

ECR's API is moto's server on loopback; the registry is Debian's `docker-registry` on 127.0.0.1, which the
Docker daemon accepts over plain HTTP (127.0.0.0/8 is an insecure registry by default) and which stands in
for the `<account>.dkr.ecr.<region>.amazonaws.com` host through `--registry-url`. The pushed blobs are
checked byte for byte over the registry API, the local tags removed, the image pulled back and trained with.

`make test/local-mode` installs docker-registry first (`make docker/registry`); by hand, with the pipelines venv:
`.venv/pipelines/bin/pytest tests/containers/test_registry_push.py --image chainer-mnist=byoc/chainer-mnist:latest`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from utils.data import REPO, free_port, write_opt_ml
from utils.waiting import wait_until

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

import boto3
import docker.errors
from moto.server import ThreadedMotoServer

from byoc_pipelines.aws import ecr as ecr_mod
from byoc_pipelines.errors import ConfigurationError

pytestmark = pytest.mark.container

REGION = "us-east-1"
FAKE_KEY = "testing"  # moto accepts any credentials
REPOSITORY = "byoc/chainer-mnist"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def loopback_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never route loopback requests through an HTTP(S)_PROXY
    return session


def registry_binary() -> str:
    """/usr/bin/docker-registry, which `make docker/registry` installs; skipped without it (failed under CI)."""
    found = shutil.which("docker-registry")
    if found is None:
        message = "needs Debian's docker-registry: run `make docker/registry` (scripts/docker/ensure-registry.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


class Registries:
    """Private registries on loopback (Debian's docker-registry), stopped when the module's tests are done."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary, self.root = binary, root
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, read_only: bool = False) -> str:
        """``127.0.0.1:PORT`` of a new registry with its own storage; ``read_only`` refuses every push."""
        port = free_port()
        folder = self.root / str(port)
        folder.mkdir()
        text = REGISTRY_CONFIG.format(storage=folder / "storage", port=port)
        if read_only:
            text = text.replace("\nhttp:", "\n  maintenance:\n    readonly:\n      enabled: true\nhttp:")
        (folder / "config.yml").write_text(text)
        log_path = folder / "registry.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [self.binary, "serve", str(folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        session = loopback_session()

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"docker-registry exited ({process.returncode}):\n{log_path.read_text()}")
            with contextlib.suppress(requests.ConnectionError):
                return session.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200
            return False

        wait_until(ready, 30, interval_s=0.1, what="docker-registry answering /v2/")
        return f"127.0.0.1:{port}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    started = Registries(registry_binary(), tmp_path_factory.mktemp("registries"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def local_registry(registries: Registries) -> str:
    return registries.start()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def fake_aws_env(tmp_path: Path) -> dict[str, str]:
    """A process environment with made-up credentials and no way to reach a real AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (tmp_path / "aws-empty").write_text("")
    env.update(
        AWS_ACCESS_KEY_ID=FAKE_KEY,
        AWS_SECRET_ACCESS_KEY=FAKE_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-empty"),
        AWS_CONFIG_FILE=str(tmp_path / "aws-empty"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture
def untag_afterwards(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """References added to the local Docker by a test; untagged (never the image itself) at teardown."""
    references: list[str] = []
    yield references
    for reference in references:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(reference, noprune=True)


def npz_bytes(n: int, seed: int) -> bytes:
    """MNIST-shaped noise: the pulled image only has to train, not to learn."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, images=rng.integers(0, 256, (n, 784), dtype=np.uint8), labels=rng.integers(0, 10, n))
    return buffer.getvalue()


def run_push(image: str, registry: str, moto_endpoint: str, env: dict[str, str], *extra: str) -> Any:
    """``python -m byoc_pipelines.cli push``, as `make push/<image>` runs it, with moto's ECR and ``registry``."""
    command = [sys.executable, "-m", "byoc_pipelines.cli", "push", image, "--repository", REPOSITORY]
    command += ["--endpoint-url", moto_endpoint, "--registry-url", registry, *extra]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False)


def test_push_to_local_registry_then_pull_and_train(
    chainer_mnist_image: str,
    docker_client: docker.DockerClient,
    container_factory: Any,
    local_registry: str,
    moto_endpoint: str,
    fake_aws_env: dict[str, str],
    untag_afterwards: list[str],
    tmp_path: Path,
) -> None:
    local = docker_client.images.get(chainer_mnist_image)
    try:
        revision, extra = ecr_mod.git_revision(REPO), []
    except ConfigurationError:  # a source tree without git
        revision, extra = "test-push", ["--tag-revision", "test-push"]
    expected = [f"{local_registry}/{REPOSITORY}:{tag}" for tag in (revision, "latest")]
    untag_afterwards.extend(expected)

    # 1. the CLI, exactly as `make push/chainer-mnist` runs it, but with moto's ECR and the local registry
    done = run_push(chainer_mnist_image, local_registry, moto_endpoint, fake_aws_env, *extra)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{expected[0]}\n"  # only the URI on stdout
    assert "Pushed" in done.stderr
    assert f"created ECR repository {REPOSITORY} (account 123456789012)" in done.stderr

    ecr = boto3.client(
        "ecr",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
    )
    repository = ecr.describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}

    # 2. the registry holds both tags, one manifest, whose config is the local image and whose blobs are intact
    http, base = loopback_session(), f"http://{local_registry}/v2/{REPOSITORY}"
    assert set(http.get(f"{base}/tags/list", timeout=10).json()["tags"]) == {revision, "latest"}
    answers = [
        http.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, timeout=10)
        for tag in (revision, "latest")
    ]
    assert all(a.status_code == 200 for a in answers)
    assert answers[0].headers["Docker-Content-Digest"] == answers[1].headers["Docker-Content-Digest"]
    manifest = answers[0].json()
    assert manifest["config"]["digest"] == local.id
    for blob in [manifest["config"], *manifest["layers"]]:
        digest = hashlib.sha256()
        with http.get(f"{base}/blobs/{blob['digest']}", stream=True, timeout=60) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(1 << 20):
                digest.update(chunk)
        assert f"sha256:{digest.hexdigest()}" == blob["digest"]

    # 3. drop the local tags, pull the revision back and train with it
    for reference in expected:
        docker_client.images.remove(reference, noprune=True)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(reference)
    pulled = docker_client.images.pull(f"{local_registry}/{REPOSITORY}", tag=revision)
    assert pulled.id == local.id

    root = write_opt_ml(
        tmp_path / "opt_ml",
        {"epochs": "1", "units": "16", "batch-size": "50"},
        {
            "train": {"train.npz": npz_bytes(200, seed=1)},
            "valid": {"valid.npz": npz_bytes(50, seed=2)},
        },
    )
    container = container_factory(expected[0])
    container.run("train", opt_ml=root)
    assert container.wait(timeout_s=300) == 0, container.logs()
    assert (root / "model" / "model.npz").stat().st_size > 0
    assert not (root / "output" / "failure").exists()


def test_push_refused_by_the_registry_is_one_error_line(
    chainer_mnist_image: str,
    registries: Registries,
    moto_endpoint: str,
    fake_aws_env: dict[str, str],
    untag_afterwards: list[str],
) -> None:
    read_only = registries.start(read_only=True)
    untag_afterwards.extend(f"{read_only}/{REPOSITORY}:{tag}" for tag in ("refused", "latest"))
    done = run_push(chainer_mnist_image, read_only, moto_endpoint, fake_aws_env, "--tag-revision", "refused")
    assert done.returncode == 1
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: push of {read_only}/{REPOSITORY}:refused failed: ")
    assert done.stderr.endswith(errors[0] + "\n")  # the last line, and `latest` was not attempted
    assert f"{read_only}/{REPOSITORY}]" in done.stderr  # progress of the refused push came first
