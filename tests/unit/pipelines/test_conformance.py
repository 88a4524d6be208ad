"""The conformance suite's parts without Docker: inputs, answer shapes, /proc parsing, reports, the CLI's checks."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from byoc_pipelines import cli, descriptor
from byoc_pipelines.conformance import batch, catalog, inputs, procfs, report, training
from byoc_pipelines.conformance.context import Context, Options
from byoc_pipelines.conformance.results import Recorder, Report, Status

REPO = Path(__file__).resolve().parents[3]

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0B00007F:96D3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
   3: 020012AC:1F90 030012AC:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:4E21 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


def test_the_readme_lists_every_check_of_the_catalogue() -> None:
    ids = [c.id for c in catalog.CHECKS]
    assert len(ids) == len(set(ids)) and {c.family for c in catalog.CHECKS} == set(catalog.FAMILIES)
    assert catalog.markdown_table() in (REPO / "README.md").read_text()


def test_listening_sockets_from_proc_net_tcp(tmp_path: Path) -> None:
    net = tmp_path / "42" / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(TCP)
    (net / "tcp6").write_text(TCP6)
    found = procfs.listeners(42, tmp_path)
    assert [(item.address, item.port, item.loopback_only) for item in found] == [
        ("0.0.0.0", 8080, False),  # noqa: S104 - an address parsed, nothing bound
        ("127.0.0.1", 8081, True),
        ("::", 20001, False),
    ]  # Docker's DNS resolver on 127.0.0.11 and the established connection are left out


def test_a_process_and_its_children_from_proc() -> None:
    me = procfs.process(os.getpid())
    assert me.argv and me.name and not me.is_shell
    assert procfs.Process(1, ("/bin/sh", "-c", "python3 x.py train"), (7,)).is_shell


def _ctx(tmp_path: Path) -> Context:
    return Context(sandbox=None, inputs=inputs.from_options(None), rec=Recorder(), options=Options())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "args", "cmd"),
    [
        ({"Entrypoint": ["python3", "/opt/x.py"], "Cmd": ["train"]}, Status.PASS, Status.PASS),
        ({"Entrypoint": None, "Cmd": ["train"]}, Status.PASS, Status.PASS),
        ({"Entrypoint": ["/bin/sh", "-c", "python3 /opt/x.py"], "Cmd": ["train"]}, Status.FAIL, Status.PASS),
        ({"Entrypoint": ["python3", "/opt/x.py"], "Cmd": None}, Status.PASS, Status.FAIL),
        ({"Entrypoint": ["python3", "/opt/x.py"], "Cmd": ["serve"]}, Status.PASS, Status.FAIL),
    ],
)
def test_the_image_configuration_checks(tmp_path: Path, config: dict[str, object], args: Status, cmd: Status) -> None:
    ctx = _ctx(tmp_path)
    training.check_image_config(ctx, config)
    assert (ctx.rec.status("T1.args"), ctx.rec.status("T1.cmd")) == (args, cmd)


@pytest.mark.parametrize(
    ("example", "value", "problem"),
    [
        (
            {"predictions": [{"label": 7, "probabilities": [0.5]}]},
            {"predictions": [{"label": 2, "probabilities": [0.1, 0.9]}]},
            None,
        ),
        (
            {"predictions": [{"label": 7}]},
            {"predictions": [{"label": "7"}]},
            "answer.predictions[].label: expected a number",
        ),
        ({"predictions": [{"label": 7}]}, {"predictions": []}, "answer.predictions: expected a non-empty list"),
        ({"predictions": [1]}, {"outputs": [1]}, "key 'predictions' missing (has outputs)"),
        ([{"label": "a", "prob": 0.9}], [{"label": "b", "prob": 1}, {"label": "c", "prob": 0}], None),
        ([{"label": "a"}], {"label": "a"}, "expected a non-empty list"),
        ({"ok": True}, {"ok": 1}, "answer.ok: expected true"),
    ],
)
def test_answers_are_compared_by_shape(example: object, value: object, problem: str | None) -> None:
    found = inputs.shape_mismatch(example, value)
    assert found == problem if problem is None else (found is not None and problem in found)


def test_answer_expectations() -> None:
    expected = descriptor.Answer(content_type="text/csv", lines=2)
    assert inputs.answer_mismatch(expected, 200, "text/csv", b"7\n2\n") is None
    assert inputs.answer_mismatch(expected, 200, "text/csv", b"7\n") == "1 answer lines, expected 2"
    assert (
        inputs.answer_mismatch(expected, 200, "application/json", b"7\n2\n")
        == "Content-Type application/json, expected text/csv"
    )
    assert inputs.answer_mismatch(expected, 415, "text/csv", b"") == "status 415, expected 200"
    assert "not JSON" in (inputs.answer_mismatch(descriptor.Answer(json={"a": 1}), 200, "", b"<html>") or "")


def test_bodies_of_an_exact_size_and_multi_record_batches() -> None:
    csv = descriptor.Request("csv", "text/csv", b"1,2\n3,4\n")
    body = inputs.padded(csv, 1000)
    assert len(body) == 1000 and body.startswith(b"1,2\n3,4\n1,2\n")
    json_body = inputs.padded(descriptor.Request("json", "application/json", b'{"q": "x"}'), 64)
    assert len(json_body) == 64 and json.loads(json_body) == {"q": "x"}
    many, count = inputs.multi_record(descriptor.Request("r", "text/csv", b"1,2,3"), 1)
    assert count == 1024 * 1024 // 6 and len(many) == count * 6 <= 1024 * 1024 and many.endswith(b"1,2,3\n")


def test_generic_inputs_without_a_descriptor() -> None:
    made = inputs.from_options(None, {"train": Path("/data")}, {"epochs": "1"})
    assert made.generic and made.channels == {"train": Path("/data")}
    assert made.failing_hyperparameters == {"epochs": "1", inputs.UNKNOWN_HYPERPARAMETER: "1"}
    assert made.failing_channels == {} and made.sample.content_type == "application/json"
    found = descriptor.find(REPO / "containers", "chainer-mnist")
    given = inputs.from_options(found, hyperparameters={"units": "20"})
    assert given.hyperparameters == {"epochs": "1", "units": "20", "batch-size": "500"}
    assert given.long_hyperparameters["epochs"] == "200" and given.channels["train"] == REPO / "data/mnist/train"
    assert given.failing_hyperparameters["epochs"] == "zero" and given.record.content_type == "text/csv"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"MaxConcurrentTransforms": 2, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}, None),
        ({"MaxConcurrentTransforms": 1, "BatchStrategy": "SingleRecord", "MaxPayloadInMB": 0}, None),
        (
            {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6},
            "BatchStrategy 'MULTI_RECORD'",
        ),
        (
            {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord"},
            "keys ['BatchStrategy', 'MaxConcurrentTransforms']",
        ),
        (
            {"MaxConcurrentTransforms": "1", "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6},
            "MaxConcurrentTransforms '1'",
        ),
        ({"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 101}, "MaxPayloadInMB 101"),
        ({"MaxConcurrentTransforms": 20, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 5}, None),
        (
            {"MaxConcurrentTransforms": 17, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6},
            "MaxConcurrentTransforms 17 x MaxPayloadInMB 6 = 102 MB in flight",
        ),
        ([], "expected a JSON object"),
    ],
)
def test_execution_parameters_shape(value: object, problem: str | None) -> None:
    found = batch.parameters_problem(value)
    assert found == problem if problem is None else (found is not None and found.startswith(problem))


def test_a_check_reports_once_and_unreported_checks_are_skips() -> None:
    rec = Recorder()
    rec.passed("T5", "exit 143 0.2 s after SIGTERM")
    with pytest.raises(RuntimeError, match="T5 reported twice"):
        rec.failed("T5")
    rec.skip_rest(["T5", "T6"], "blocked")
    ordered = {r.check.id: r for r in rec.ordered()}
    assert (ordered["T5"].status, ordered["T6"].status, ordered["T6"].detail) == (Status.PASS, Status.SKIP, "blocked")
    assert ordered["S1.port"].detail.startswith("not run")


def _report() -> Report:
    rec = Recorder()
    rec.passed("S2.ready", "0.67 s after start", seconds=0.67)
    rec.failed("S6.malformed", "500, 40 bytes in 0.01 s", "expected 400 with a body")
    return Report("fake:1", "sha256:1", None, 0.0, 12.0, rec.ordered(), Options().as_dict())


def test_junit_and_json_reports(tmp_path: Path) -> None:
    json_path, xml_path = report.write(_report(), tmp_path)
    suite = ET.parse(xml_path).getroot().find("testsuite")  # noqa: S314 - the file the test just wrote
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        str(len(catalog.CHECKS)),
        "1",
        str(len(catalog.CHECKS) - 2),
    )
    failed = [case for case in suite if case.find("failure") is not None]
    assert [case.get("name", "").split()[0] for case in failed] == ["S6.malformed"]
    assert "limit: 400 (HTTP semantics; AWS documents no status (botocore ModelError))" in (
        failed[0].find("failure").text or ""
    )  # type: ignore[union-attr]
    saved = json.loads(json_path.read_text())
    assert saved["ok"] is False and saved["counts"] == {"pass": 1, "fail": 1, "skip": len(catalog.CHECKS) - 2}
    assert {r["id"]: r["limit"] for r in saved["results"]}["S2.ready"] == "<= 240 s"
    out = io.StringIO()
    report.table(_report(), out)
    assert "S6.malformed (FAIL): expected 400 with a body" in out.getvalue()
    assert "fake:1 does NOT conform: 1 passed, 1 failed" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["conformance", "img", "--families", "training,gpu"], "--families: unknown ['gpu']"),
        (["conformance", "img", "--serverless", "512"], "serverless memory is 1024-6144 MB"),
        (["conformance"], "give an IMAGE (or --list-checks)"),
    ],
)
def test_bad_options_stop_before_anything_runs(argv: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(argv, stdout=out, stderr=err) == 2
    assert message in err.getvalue()


def test_the_cli_prints_the_table_of_checks() -> None:
    out = io.StringIO()
    assert cli.main(["conformance", "--list-checks"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == catalog.markdown_table() + "\n"
