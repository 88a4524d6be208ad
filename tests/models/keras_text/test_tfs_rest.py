"""TF Serving's REST API in process, on TF1 and TF2 SavedModels: formats, versions, signatures, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from keras_text.serving.tfs import models, rest
from utils.tfs_models import tf1_classifier, tf1_scaler, tf2_adder


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> models.Registry:
    root = tmp_path_factory.mktemp("tfs_models")
    tf1_scaler(root / "scaler" / "1", 3.0)
    tf1_scaler(root / "scaler" / "0002", 4.0)  # leading zeros are dropped, as TF Serving does
    tf2_adder(root / "adder" / "1")
    tf1_classifier(root / "tagger" / "7")
    (root / "model.tar.gz").write_bytes(b"SDK local mode leaves the tarball next to the files")
    return models.Registry.load(root, {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "scaler"})


def _nested(value: object, depth: int) -> object:
    for _ in range(depth):
        value = [value]
    return value


def _call(registry: models.Registry, path: str, body: object) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return rest.handle(registry, path, raw)


def test_models_and_versions_are_found_as_tf_serving_finds_them(registry: models.Registry, tmp_path: Path) -> None:
    assert {name: sorted(v) for name, v in registry.models.items()} == {"adder": [1], "scaler": [1, 2], "tagger": [7]}
    assert registry.get().version == 2 and registry.get("scaler", 1).version == 1
    tf1_scaler(tmp_path / "3", 1.0)
    assert list(models.find(tmp_path)) == ["model"]  # <version>/ directly under /opt/ml/model is "model"


def test_row_format_feeds_a_tf1_graph_like_tf_serving(registry: models.Registry) -> None:
    # x is declared (None, 1); TF Serving feeds row scalars as shape (2,), and so do we.
    assert _call(registry, "/v1/models/scaler:predict", {"instances": [1.0, 2.0]}) == (
        200,
        {"predictions": [[4.0], [8.0]]},
    )
    status, body = _call(registry, "/v1/models/scaler/versions/1:predict", {"instances": [[1.0]]})
    assert (status, body) == (200, {"predictions": [[3.0]]})


def test_named_inputs_and_several_outputs_in_both_formats(registry: models.Registry) -> None:
    rows = {"instances": [{"a": [1.0, 2.0], "b": 1}, {"a": [0.5, 0.5], "b": 0}]}
    status, body = _call(registry, "/v1/models/adder:predict", rows)
    assert status == 200
    assert body["predictions"] == [{"sum": 14.0, "double": [2.0, 4.0]}, {"sum": 11.0, "double": [1.0, 1.0]}]
    columns = {"inputs": {"a": [[1.0, 2.0]], "b": [1]}}
    assert _call(registry, "/v1/models/adder:predict", columns) == (
        200,
        {"outputs": {"sum": [14.0], "double": [[2.0, 4.0]]}},
    )


def test_strings_and_bytes_and_a_named_signature(registry: models.Registry) -> None:
    body = {"signature_name": "shout", "instances": ["hi", {"b64": base64.b64encode(b"yo").decode()}]}
    status, answer = _call(registry, "/v1/models/adder:predict", body)
    assert status == 200
    assert answer["predictions"][0] == {"loud": "HI", "loud_bytes": {"b64": base64.b64encode(b"HI").decode()}}
    assert answer["predictions"][1]["loud"] == "YO"


def test_classify_and_regress_take_examples(registry: models.Registry) -> None:
    status, body = _call(registry, "/v1/models/tagger:classify", {"examples": [{"x": 0.0}, {"x": 10.0}]})
    assert status == 200
    assert [[label for label, _ in row] for row in body["results"]] == [["yes", "no"], ["yes", "no"]]
    assert body["results"][0][0][1] == pytest.approx(0.5) and body["results"][1][0][1] > 0.99
    status, body = _call(
        registry, "/v1/models/tagger:regress", {"signature_name": "regress", "examples": [{"x": 1.5}], "context": {}}
    )
    assert (status, body) == (200, {"results": [3.0]})


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models/scaler/versions/9:predict", {"instances": [1]}, 404, "Specific(scaler, 9)"),
        ("/v1/models/scaler:predict", b"{not json", 400, "JSON Parse error"),
        ("/v1/models/scaler:predict", {"instances": [1], "inputs": [1]}, 400, "Not both 'instances' and 'inputs'"),
        ("/v1/models/scaler:predict", {"rows": [1]}, 400, "Missing 'inputs' or 'instances' keys"),
        ("/v1/models/scaler:predict", {"instances": "invalid"}, 400, "Expecting 'instances' to be a non-empty list"),
        ("/v1/models/scaler:predict", {"instances": ["abc"]}, 400, "cannot convert to float32"),
        ("/v1/models/scaler:predict", {"instances": [[1.0], [1.0, 2.0]]}, 400, "different shapes"),
        ("/v1/models/adder:predict", {"instances": [{"a": [1.0, 2.0]}]}, 400, "needs the key(s) ['b']"),
        ("/v1/models/adder:predict", {"instances": [[1.0, 2.0]]}, 400, "send each instance as an object"),
        ("/v1/models/adder:predict", {"signature_name": "nope", "inputs": [1]}, 400, 'signature key "nope" not found'),
        ("/v1/models/adder:predict", {"signature_name": ["shout"], "inputs": [1]}, 400, "must be a string"),
        ("/v1/models/tagger:classify", {"examples": [{"x": [1.0, 2.0]}]}, 400, "Key: x"),  # the graph refuses it
        ("/v1/models/tagger:regress", {"examples": [{"x": 1.0}]}, 400, "Expected regress signature method_name"),
        ("/v1/models/scaler:explain", {"instances": [1]}, 404, "Malformed request"),
        # Hostile shapes: none of them may reach NumPy's or Python's limits as a 500
        ("/v1/models/scaler:predict", {"instances": [_nested(1.0, 64)]}, 400, "would exceed 64"),
        ("/v1/models/scaler:predict", {"instances": [_nested(1.0, 500)]}, 400, "cannot convert to float32"),
        ("/v1/models/scaler:predict", {"inputs": _nested(1.0, 65)}, 400, "cannot convert to float32"),
        ("/v1/models/adder:predict", {"signature_name": "shout", "instances": [_nested("a", 64)]}, 400, "exceed 64"),
        ("/v1/models/adder:predict", {"signature_name": "shout", "instances": [_nested("a", 600)]}, 400, "64 deep"),
        ("/v1/models/adder:predict", {"signature_name": "shout", "inputs": _nested("a", 600)}, 400, "64 deep"),
        (f"/v1/models/scaler/versions/{'9' * 5000}:predict", {"instances": [1]}, 400, "(5000 digits) is not a 64"),
        (f"/v1/models/scaler/versions/{2**63}:predict", {"instances": [1]}, 400, "not a 64-bit integer"),
    ],
)
def test_errors_carry_tf_servings_status_and_a_message(
    registry: models.Registry, path: str, body: object, status: int, message: str
) -> None:
    got_status, answer = _call(registry, path, body)
    assert got_status == status
    assert set(answer) == {"error"} and message in answer["error"]


def test_model_status_and_metadata(registry: models.Registry) -> None:
    status, body = rest.status_body(registry, "/v1/models/scaler")
    assert status == 200 and [v["version"] for v in body["model_version_status"]] == ["1", "2"]
    assert {v["state"] for v in body["model_version_status"]} == {"AVAILABLE"}
    status, body = rest.status_body(registry, "/v1/models/adder/metadata")
    assert status == 200 and set(body["metadata"]["signature_def"]) == {"serving_default", "shout"}
    assert rest.status_body(registry, "/v1/models/nope")[0] == 404
    status, body = rest.status_body(registry, f"/v1/models/scaler/versions/{'9' * 5000}")
    assert status == 400 and "(5000 digits) is not a 64-bit integer" in body["error"]
    assert rest.status_body(registry, f"/v1/models/scaler/versions/{2**63 - 1}")[0] == 404  # int64, not there
