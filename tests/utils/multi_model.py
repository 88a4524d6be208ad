"""Multi-model endpoints in local mode, whatever the image serves: its archives under one prefix, the endpoint,
what its instance has loaded, and the least-recently-used walk every image's test takes (pipelines venv)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import requests

from byoc_pipelines.local.endpoints.models import model_name
from byoc_pipelines.local.runner import LocalModeRunner
from byoc_pipelines.local.session import RUN_LABEL, LocalMode
from byoc_pipelines.sagemaker import requests as sm
from utils.endpoints import tarball


def running(local_mode: LocalMode) -> list[Any]:
    """The session's containers that are running."""
    client = docker.from_env()
    try:
        return client.containers.list(filters={"label": f"{RUN_LABEL}={local_mode.run_id}"})
    finally:
        client.close()


def model_prefix(folders: Mapping[str, Path], root: Path) -> str:
    """Each model folder as ``<root>/<TargetModel>`` (e.g. ``label-1/model.tar.gz``): the ``file://`` prefix that a
    multi-model ``ModelDataUrl`` names."""
    for target, folder in folders.items():
        tarball(folder, root / target)
    return f"file://{root}/"


def archive_bytes(uri: str) -> int:
    """The bytes of a ``model.tar.gz``'s files: what the container counts against its budget once extracted."""
    with tarfile.open(uri.removeprefix("file://")) as archive:
        return sum(member.size for member in archive.getmembers())


def create_endpoint(runner: LocalModeRunner, image: str, name: str, prefix: str, budget_bytes: int) -> None:
    """A model with ``Mode: MultiModel`` on ``prefix``, its config and endpoint; the container's model budget."""
    container = {
        "Image": image,
        "Mode": "MultiModel",
        "ModelDataUrl": prefix,
        "Environment": {"MODEL_SERVER_MODELS_MEMORY_BYTES": str(budget_bytes)},
    }
    runner.call("CreateModel", {"ModelName": name, "PrimaryContainer": container})
    runner.call("CreateEndpointConfig", sm.endpoint_config(f"{name}-config", name))
    runner.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": f"{name}-config"})


def loaded_targets(local_mode: LocalMode, targets: list[str]) -> Callable[[], set[str]]:
    """Which of ``targets`` the endpoint's one instance has loaded (its ``GET /models`` lists the opaque names)."""
    (instance,) = running(local_mode)
    port = instance.ports["8080/tcp"][0]["HostPort"]

    def loaded() -> set[str]:
        listing = requests.get(f"http://127.0.0.1:{port}/models", timeout=5).json()["models"]
        names = {m["modelName"] for m in listing}
        return {target for target in targets if model_name(target) in names}

    return loaded


def walk_least_recently_used(
    ask: Callable[[str], Any], loaded: Callable[[], set[str]], answers: Mapping[str, Any]
) -> None:
    """Three TargetModels (``answers``: the answer that shows each one served) on an endpoint with room for two:
    each loaded on first use, the least recently used unloaded to make room, a cache hit, then the unloaded one
    loaded again on demand in place of the one now least recently used. Five invocations, one cache hit."""
    first, second, third = answers
    for target in (first, second, third):
        assert ask(target) == answers[target], target
    assert loaded() == {second, third}  # the first, the least recently used, made room for the third
    assert ask(second) == answers[second]  # still loaded: a cache hit
    assert ask(first) == answers[first]  # loaded again on demand ...
    assert loaded() == {second, first}  # ... in place of the third, now the least recently used
