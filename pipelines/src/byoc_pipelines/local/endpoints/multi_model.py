"""SageMaker's side of a multi-model endpoint: a TargetModel loaded on first use, the least recently used
unloaded when the container runs out of room.

On an invocation SageMaker extracts ``<ModelDataUrl prefix>/<TargetModel>`` under ``/opt/ml/models``, asks the
container to load it (``POST /models``), then calls ``POST /models/{model_name}/invoke``; when a load answers
507 it unloads models the instance has not used for the longest time and tries again (DG "Multi-model
endpoints", "Custom containers contract for multi-model endpoints"). Requests go preferably to an instance
that has the model loaded. Models are extracted per instance, as each SageMaker instance downloads its own.
"""

from __future__ import annotations

import json
import shutil
import time

from botocore.exceptions import ClientError

from byoc_pipelines.local.endpoints.errors import client_error
from byoc_pipelines.local.endpoints.instances import Answer, Instance
from byoc_pipelines.local.endpoints.metrics import Metrics
from byoc_pipelines.local.endpoints.models import MODELS_DIR, extract, model_name, target_archive

INSUFFICIENT_STORAGE = 507
CONFLICT = 409


def invoke_path(instance: Instance, target_model: str, metrics: Metrics) -> str:
    """The path to invoke ``target_model`` on ``instance``, loading it there first when needed."""
    name = model_name(target_model)
    with instance.model_lock:
        if name in instance.loaded:
            instance.loaded.move_to_end(name)
            metrics.put(instance.variant, "ModelCacheHit", 1)
            return f"/models/{name}/invoke"
        metrics.put(instance.variant, "ModelCacheHit", 0)
        started = time.perf_counter()
        _load(instance, name, target_model, metrics)
        metrics.put(instance.variant, "ModelLoadingWaitTime", (time.perf_counter() - started) * 1e6)
        metrics.put(instance.variant, "LoadedModelCount", len(instance.loaded))
    return f"/models/{name}/invoke"


def forget(instance: Instance, target_model: str) -> None:
    """The container no longer has the model (it answered 404): load it again next time."""
    with instance.model_lock:
        instance.loaded.pop(model_name(target_model), None)


def _load(instance: Instance, name: str, target_model: str, metrics: Metrics) -> None:
    folder = instance.models_dir / name
    if not (folder / "model").is_dir():
        extract(target_archive(instance.model, target_model), folder / "model")
    spec = json.dumps({"model_name": name, "url": f"{MODELS_DIR}/{name}/model"}).encode()
    while True:
        answer = instance.request("POST", "/models", spec, {"Content-Type": "application/json"})
        if answer.status == 200 or answer.status == CONFLICT:
            instance.loaded[name] = target_model
            return
        if answer.status != INSUFFICIENT_STORAGE or not instance.loaded:
            shutil.rmtree(folder, ignore_errors=True)
            raise load_error(answer, target_model)
        _unload_least_recent(instance, metrics)


def _unload_least_recent(instance: Instance, metrics: Metrics) -> None:
    victim, _ = instance.loaded.popitem(last=False)
    started = time.perf_counter()
    instance.request("DELETE", f"/models/{victim}")  # 404: already gone, which is what we want
    metrics.put(instance.variant, "ModelUnloadingTime", (time.perf_counter() - started) * 1e6)
    shutil.rmtree(instance.models_dir / victim, ignore_errors=True)


def load_error(answer: Answer, target_model: str) -> ClientError:
    message = answer.body.decode("utf-8", errors="replace")
    return client_error(
        "ModelError",
        f"Received {'client' if answer.status < 500 else 'server'} error ({answer.status}) from primary while "
        f'loading model {target_model} with message "{message}".',
        "InvokeEndpoint",
        OriginalStatusCode=answer.status,
        OriginalMessage=message,
    )
