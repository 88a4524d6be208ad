"""The models of a multi-model container's worker, by name, within a byte budget (see :mod:`multi_model`).

Each model is the image's loader pointed at the model's folder (``ServingEnv.model_dir``) under its name
(``ServingEnv.model_name``), after the image's prepare step; an unloaded model's handler is closed when it has a
``close()``. The errors are the contract's: 404 unknown, 409 already loaded, 507 over the budget.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm_contract.content_types import ANY
from sm_contract.environment import WORKERS_VAR, ServingEnv
from sm_contract.errors import ContractError, InvalidPayloadError, RequestError
from sm_contract.paths import MLPaths

if TYPE_CHECKING:
    from sm_contract.entrypoints import Prepare  # run before each model loads; a ContractError refuses the load
    from sm_contract.serving import Loader, ModelHandler

logger = logging.getLogger(__name__)


class ModelNotFoundError(RequestError):
    status_code = 404
    error = "model not found"


class ModelConflictError(RequestError):
    status_code = 409
    error = "model already loaded"


class InsufficientMemoryError(RequestError):
    status_code = 507
    error = "insufficient memory"


@dataclasses.dataclass(frozen=True)
class _ModelPaths(MLPaths):
    """The /opt/ml layout with the model folder somewhere else (a multi-model ``url``)."""

    model: Path = Path()

    @property
    def model_dir(self) -> Path:
        return self.model


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    name: str
    url: str
    handler: ModelHandler
    size: int  # bytes counted against the budget

    def description(self) -> dict[str, str]:
        return {"modelName": self.name, "modelUrl": self.url}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class ModelStore:
    """The models of one worker by name, within a byte budget. Thread-safe: loads run in worker threads.

    It is also the app's handler for ``/invocations``, which a multi-model container does not serve (SageMaker
    calls ``/models/{name}/invoke``): every such request is answered 404 naming the route to use.
    """

    content_types = (ANY,)
    accept_types = (ANY,)

    def __init__(self, load: Loader, env: ServingEnv, budget_bytes: int, prepare: Prepare | None = None) -> None:
        self._load, self._env, self.budget_bytes, self._prepare = load, env, budget_bytes, prepare
        self._models: dict[str, LoadedModel] = {}
        self._reserved: dict[str, int] = {}  # names being loaded and their bytes
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        return sum(m.size for m in self._models.values()) + sum(self._reserved.values())

    def load(self, name: str, url: str) -> LoadedModel:
        folder = Path(url)
        if not folder.is_dir():
            raise ModelNotFoundError(f"no model folder at {url}")
        size = folder_bytes(folder)
        self._reserve(name, size)
        started = time.perf_counter()
        try:
            env = dataclasses.replace(self._env, paths=_ModelPaths(self._env.paths.base, folder), model_name=name)
            if self._prepare is not None:
                self._prepare(env)
            handler = self._load(env)
        except MemoryError:
            raise InsufficientMemoryError(f"model {name} did not fit in memory while loading") from None
        except ContractError as exc:  # the artifact is not a model this image serves
            raise InvalidPayloadError(f"model {name} at {url} could not be loaded: {exc}") from None
        finally:
            with self._lock:
                self._reserved.pop(name, None)
        loaded = LoadedModel(name, url, handler, size)
        with self._lock:
            self._models[name] = loaded
        logger.info(
            "loaded model %s (%d bytes) from %s in %.0f ms", name, size, url, 1e3 * (time.perf_counter() - started)
        )
        return loaded

    def _reserve(self, name: str, size: int) -> None:
        with self._lock:
            if name in self._models or name in self._reserved:
                raise ModelConflictError(f"model {name} is already loaded")
            if self.used_bytes + size > self.budget_bytes:
                raise InsufficientMemoryError(
                    f"model {name} needs {size} bytes; {self.used_bytes} of the {self.budget_bytes}-byte budget "
                    f"hold {len(self._models)} model(s): unload one"
                )
            self._reserved[name] = size

    def unload(self, name: str) -> LoadedModel:
        with self._lock:
            if name not in self._models:
                raise ModelNotFoundError(f"model {name} is not loaded")
            unloaded = self._models.pop(name)
        close = getattr(unloaded.handler, "close", None)
        if callable(close):  # what the handler holds besides memory (e.g. its routes into the process)
            close()
        return unloaded

    def get(self, name: str) -> LoadedModel:
        found = self._models.get(name)
        if found is None:
            raise ModelNotFoundError(f"model {name} is not loaded")
        return found

    def page(self, token: str | None, size: int) -> tuple[list[LoadedModel], str | None]:
        """One page of the loaded models in load order; the token is the offset of the next page."""
        models = list(self._models.values())
        start = int(token) if token else 0
        end = start + size
        return models[start:end], str(end) if end < len(models) else None

    # /invocations: not served by a multi-model container
    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Any:
        raise ModelNotFoundError("this container serves several models: POST /models/{model_name}/invoke")

    def predict(self, inputs: Any) -> Any:
        return inputs

    def encode(self, outputs: Any, accept: str) -> bytes:
        return b""


def one_worker(environ: MutableMapping[str, str]) -> None:
    """Before the server starts: one worker process holds the models (the /models state is per process). Here,
    not in :mod:`multi_model`, so that ``serve``'s supervisor imports no server module."""
    if environ.get(WORKERS_VAR, "1") != "1":
        logger.warning("%s=%s ignored: a multi-model container runs one worker", WORKERS_VAR, environ[WORKERS_VAR])
    environ[WORKERS_VAR] = "1"
