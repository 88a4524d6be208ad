"""What a TF Serving artifact's requests may hold, checked before any handler runs, and TF Serving's REST routes
admitted as /invocations is.

Records are counted as texts or instances (a JSON Lines body's list-valued lines count every item); the
character cap counts text a handler may tokenize, so numeric and binary bodies are bounded by the payload limit
and the record cap alone; the REST routes take the payload limit, the caps, a gate's queue and its deadline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keras_text.serving import app as serving
from keras_text.serving.tfs import caps
from keras_text.serving.tfs.handlers import TfsHandler
from sm_contract.environment import RequestLimits, ServingEnv
from sm_contract.errors import PayloadTooLargeError
from sm_contract.serving import create_app
from utils.tfs_models import tf1_half_plus_three, tf2_adder, write_code

# AWS's container tests send CSV to half_plus_three through handlers like these (written anew here).
SPLIT_CSV = """
    import json

    def input_handler(data, context):
        if context.request_content_type == "text/csv":
            return json.dumps({"instances": [float(v) for v in data.read().decode().split(",")]})
        return data.read()

    def output_handler(response, context):
        if response.status_code != 200:
            raise ValueError(response.content.decode())
        return response.content, "application/json"
"""

# Counts the texts of {"q": [...]} lines: proves whether a handler ran at all.
COUNT_TEXTS = """
    import json

    def handler(data, context):
        lines = [json.loads(line) for line in data.read().decode().split("\\n") if line.strip()]
        return json.dumps({"texts": sum(len(line["q"]) for line in lines)}), "application/json"
"""


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfs_caps")
    tf1_half_plus_three(root / "model" / "half_plus_three" / "123")
    tf2_adder(root / "model" / "adder" / "1")
    return root


@contextlib.contextmanager
def _served(root: Path, code: str | None, **environ: str) -> Iterator[TestClient]:
    code_dir = root / "model" / "code"
    for path in sorted(code_dir.rglob("*"), reverse=True) if code_dir.exists() else []:
        path.unlink() if path.is_file() else path.rmdir()
    if code_dir.exists():
        code_dir.rmdir()
    if code is not None:
        write_code(code_dir, code)
    settings = {"SAGEMAKER_BASE_DIR": str(root), "SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "half_plus_three", **environ}
    env = ServingEnv.from_environ(settings)
    with TestClient(create_app(serving.load, env, routes=serving.ROUTES)) as client:
        yield client


def test_list_valued_json_lines_count_their_texts_before_any_handler(models_root: Path) -> None:
    """180,000 one-letter texts in 20 lines: a 900 kB body, under the character cap, far over the record cap."""
    body = b"".join(json.dumps({"q": ["a"] * 9_000}).encode() + b"\n" for _ in range(20))
    with _served(models_root, COUNT_TEXTS) as client:
        jsonlines = {"Content-Type": "application/jsonlines"}
        refused = client.post("/invocations", content=body, headers=jsonlines)
        fits = client.post("/invocations", content=body[: len(body) // 20], headers=jsonlines)
    assert refused.status_code == 413, refused.text
    assert "180000 records; the limit is 10000" in refused.json()["detail"]
    assert (fits.status_code, fits.json()) == (200, {"texts": 9_000})


def test_a_numeric_csv_of_753936_values_gets_as_many_predictions(models_root: Path) -> None:
    """AWS's TF Serving container test: 3 MB of CSV values on one line to half_plus_three."""
    body = ",".join(["1.0", "2.0", "5.0"] * 251_312).encode()
    assert (len(body), body.count(b",") + 1) == (3_015_743, 753_936)
    with _served(models_root, SPLIT_CSV) as client:
        response = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text[:300]
    predictions = response.json()["predictions"]
    assert len(predictions) == 753_936 and predictions[:4] == [3.5, 4.0, 5.5, 3.5]


def test_numbers_and_b64_payloads_are_not_text(models_root: Path) -> None:
    rows = {"instances": [[1.0 + i / 8 for i in range(300)]] * 2_000}  # 3.4 MB of numbers, 2,000 instances
    picture = base64.b64encode(bytes(range(256)) * 5_000).decode()  # 1.7 million characters of base64
    with _served(models_root, None) as client:
        numbers = client.post("/invocations", json=rows)
        blob = client.post(
            "/invocations",
            json={"signature_name": "shout", "instances": [{"b64": picture}]},
            headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=adder"},
        )
    assert numbers.status_code == 200, numbers.text[:300]
    assert len(numbers.json()["predictions"]) == 2_000 and numbers.json()["predictions"][0][:2] == [3.5, 3.5625]
    assert blob.status_code == 200, blob.text[:300]
    assert base64.b64decode(blob.json()["predictions"][0]["loud_bytes"]["b64"]) == (bytes(range(256)) * 5_000).upper()


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        (json.dumps({"q": ["あ" * 100] * 51}, ensure_ascii=False).encode(), "application/json", "5100 characters"),
        (json.dumps({"q": ["あ" * 100] * 51}).encode(), "application/json", "5100 characters"),  # sent as \u3042
        (b'{"q": "' + b"a" * 2_600 + b'"}\n' + b'{"q": "' + b"b" * 2_600 + b'"}\n', "application/jsonlines", "5200 c"),
        (b"x" * 5_001, "text/csv", "5001 characters"),
        ("文" * 5_001, "text/plain", "5001 characters"),
        (b"not json\n" * 700, "application/jsonlines", "5600 characters"),  # counted as text, the handler says why
    ],
)
def test_text_is_still_capped(body: bytes | str, content_type: str, named: str) -> None:
    data = body.encode() if isinstance(body, str) else body
    with pytest.raises(PayloadTooLargeError, match=named):
        caps.check(data, content_type, RequestLimits(max_chars=5_000))


@pytest.mark.parametrize(
    ("body", "content_type", "records"),
    [
        (b'{"q": ["a", "b"]}\n{"q": "c"}\n[1, 2, 3]\nnot json\n', "application/jsonlines", 7),
        (b'{"q": ["a", "b"]}\n{"instances": [1, 2, 3]}', "application/json", 5),  # JSON Lines sent as JSON
        (b'{"instances": [[1, 2], [3, 4], [5, 6]], "q": "a"}', "application/json", 3),
        (b"1,2\n3,4\n\n5,6\n", "text/csv", 3),
    ],
)
def test_records_are_texts_instances_or_lines(body: bytes, content_type: str, records: int) -> None:
    caps.check(body, content_type, RequestLimits(max_records=records))
    with pytest.raises(PayloadTooLargeError, match=f"{records} (records|lines)"):
        caps.check(body, content_type, RequestLimits(max_records=records - 1))


def test_binary_bodies_have_no_text_cap() -> None:
    caps.check(bytes(range(256)) * 100, "application/x-npy", RequestLimits(max_chars=10, max_records=1))


def test_the_rest_routes_take_the_payload_limit_and_the_caps(models_root: Path) -> None:
    limits = {"MODEL_SERVER_MAX_PAYLOAD_BYTES": "4000", "MODEL_SERVER_MAX_RECORDS": "5", "MODEL_SERVER_MAX_CHARS": "50"}
    with _served(models_root, None, **limits) as client:
        fits = client.post("/v1/models/half_plus_three:predict", json={"instances": [1.0] * 5})
        records = client.post("/v1/models/half_plus_three:predict", json={"instances": [1.0] * 6})
        large = client.post("/v1/models/half_plus_three:predict", json={"instances": [[1.0] * 1_200]})
        text = client.post("/v1/models/adder:predict", json={"signature_name": "shout", "instances": ["a" * 51]})
        status = client.get("/v1/models/half_plus_three")
    assert (fits.status_code, fits.json()) == (200, {"predictions": [3.5] * 5})
    assert records.status_code == 413 and "6 records" in records.json()["detail"]
    assert large.status_code == 413 and "4000-byte limit" in large.json()["detail"]
    assert text.status_code == 413 and "56 characters" in text.json()["detail"]  # "shout" is a string value too
    assert status.json()["model_version_status"][0]["version"] == "123"


def test_the_rest_routes_wait_in_a_bounded_queue_until_one_deadline(
    models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One REST call computing (held), one waiting, the next refused at once; both time out at their deadline."""
    started, release = threading.Event(), threading.Event()
    original = TfsHandler.call_rest

    def held(self: TfsHandler, path: str, body: bytes) -> tuple[int, bytes]:
        started.set()
        release.wait(30)
        return original(self, path, body)

    monkeypatch.setattr(TfsHandler, "call_rest", held)
    call = {"instances": [1.0]}
    with (
        _served(models_root, None, MODEL_SERVER_QUEUE_SIZE="1", SAGEMAKER_MODEL_SERVER_TIMEOUT="2") as client,
        ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(client.post, "/v1/models/half_plus_three:predict", json=call)
        assert started.wait(30)
        gate = client.app.state.rest_gate  # type: ignore[attr-defined]
        second = pool.submit(client.post, "/v1/models/half_plus_three:predict", json=call)
        gate.wait_until(lambda stats: stats.waiting == 1, 30)
        refused = client.post("/v1/models/half_plus_three:predict", json=call)
        answers = first.result(30), second.result(30)
        release.set()
        gate.wait_until(lambda stats: stats.pending == 0, 30)
        after = client.post("/v1/models/half_plus_three:predict", json=call)
    assert refused.status_code == 503 and "already waiting" in refused.json()["detail"]
    assert [a.status_code for a in answers] == [504, 504]
    assert "dropped before it started" in answers[1].json()["detail"]
    assert (after.status_code, after.json()) == (200, {"predictions": [3.5]})
    assert gate.stats().computed == 2  # the first call's, computed after its 504, and the last one's
