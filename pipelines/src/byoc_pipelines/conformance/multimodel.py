"""The multi-model endpoint contract (DG mms-container-apis), for images labelled as supporting it.

SageMaker downloads each model under ``/opt/ml/models/<model_name>/model``, starts the container with
``SAGEMAKER_MULTI_MODEL=true`` (DG build-multi-model-build-container) and no /opt/ml/model, and drives it through
``/models``. The container starts with no model loaded and must still answer /ping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from byoc_pipelines.conformance.context import Context
from byoc_pipelines.conformance.ports import server
from byoc_pipelines.conformance.serving import headers_of, mismatch
from byoc_pipelines.conformance.wire import Endpoint, Reply
from byoc_pipelines.local.job_files import Mount

LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"
MODE_VAR = "SAGEMAKER_MULTI_MODEL"
IDS = ("M.load", "M.list", "M.load-twice", "M.get", "M.invoke", "M.unload")
NAME = "conformance-model-a"
UNKNOWN = "conformance-no-such-model"
URL = f"/opt/ml/models/{NAME}/model"
TARGET_MODEL = "conformance/model-a.tar.gz"
MAX_PAGES = 100


def _json(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def listed(endpoint: Endpoint) -> tuple[list[Any], str | None]:
    """Every model ``GET /models`` lists, following ``nextPageToken``; or a problem."""
    models: list[Any] = []
    token = None
    for _ in range(MAX_PAGES):
        path = "/models" + (f"?next_page_token={quote(token)}" if token else "")
        reply = endpoint.get(path, headers={"Accept": "application/json"})
        page = _json(reply)
        if reply.status != 200 or not isinstance(page, dict) or not isinstance(page.get("models"), list):
            return models, f"GET {path}: {reply.describe()} {reply.body[:120]!r}"
        models += page["models"]
        token = page.get("nextPageToken")
        if not token:
            return models, None
    return models, f"more than {MAX_PAGES} pages"


def run(ctx: Context, model: Path) -> None:
    if not ctx.label(LABEL):
        ctx.rec.skip_rest(IDS, f"the image lacks the label {LABEL}=true")
        return
    mounts = [Mount(model, URL)]
    env = {**ctx.inputs.serving_environment, MODE_VAR: "true"}
    with server(ctx, "multi-model", mounts=mounts, environment=env) as (box, ready):
        if ready.seconds is None:  # the label promises the contract: not serving is its first failure
            ctx.rec.failed("M.load", f"{MODE_VAR}=true, no /opt/ml/model: not ready", ready.reason)
            ctx.rec.skip_rest(IDS, "blocked by M.load: the multi-model container is not ready")
            return
        _walk(ctx, box.endpoint())


def _walk(ctx: Context, endpoint: Endpoint) -> None:
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    load = json.dumps({"model_name": NAME, "url": URL}).encode()
    first = endpoint.post("/models", load, {**json_headers, "X-Amzn-SageMaker-Target-Model": TARGET_MODEL})
    ctx.rec.verdict("M.load", first.status == 200, f"POST /models: {first.describe()}", _body(first))
    if first.status != 200:
        ctx.rec.skip_rest(IDS, "no model loaded (M.load)")
        return
    models, problem = listed(endpoint)
    entry = {"modelName": NAME, "modelUrl": URL}
    found = any(isinstance(m, dict) and {k: m.get(k) for k in entry} == entry for m in models)
    ctx.rec.verdict(
        "M.list",
        found and problem is None,
        f"{len(models)} model(s) listed",
        problem or ("" if found else f"{entry} not listed: {models[:3]}"),
    )
    again = endpoint.post("/models", load, json_headers)
    ctx.rec.verdict("M.load-twice", again.status == 409, again.describe(), _body(again))
    _get(ctx, endpoint, entry)
    _invoke(ctx, endpoint)
    gone = endpoint.delete(f"/models/{NAME}")
    after = endpoint.get(f"/models/{NAME}")
    ok = gone.status == 200 and after.status == 404
    ctx.rec.verdict("M.unload", ok, f"DELETE: {gone.status}, then GET: {after.status}", "" if ok else _body(gone))


def _body(reply: Reply) -> str:
    return "" if reply.status == 200 else f"{reply.body[:160]!r}"


def _get(ctx: Context, endpoint: Endpoint, entry: dict[str, str]) -> None:
    known, unknown = endpoint.get(f"/models/{NAME}"), endpoint.get(f"/models/{UNKNOWN}")
    described = _json(known)
    ok = (
        known.status == 200
        and isinstance(described, dict)
        and described.get("modelName") == NAME
        and unknown.status == 404
    )
    ctx.rec.verdict(
        "M.get",
        ok,
        f"known: {known.status}, unknown: {unknown.status}",
        "" if ok else f"{known.body[:120]!r}; expected {entry}",
    )


def _invoke(ctx: Context, endpoint: Endpoint) -> None:
    sample = ctx.inputs.sample
    headers = headers_of(sample, {"X-Amzn-SageMaker-Target-Model": TARGET_MODEL})
    known = endpoint.post(f"/models/{NAME}/invoke", sample.body, headers)
    unknown = endpoint.post(f"/models/{UNKNOWN}/invoke", sample.body, headers)
    why = None if ctx.inputs.generic else mismatch(sample, known)
    if ctx.inputs.generic and (known.status is None or known.status >= 300):
        why = f"status {known.status}"
    problems = [p for p in (why, None if unknown.status == 404 else f"unknown model: {unknown.describe()}") if p]
    ctx.rec.verdict(
        "M.invoke", not problems, f"known: {known.describe()}; unknown: {unknown.status}", "; ".join(problems)
    )
