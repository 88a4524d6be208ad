"""Each check can fail: the suite on stand-in images that break one point of the contract each.

The control passes every check; every broken image fails exactly the checks of its fault, and the pass/fail/skip
status of every check is asserted, so a check that fails too often shows up as well as one that never fails.
The runs go side by side (the stand-ins are light), with a short patience after SIGTERM.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from byoc_pipelines import descriptor
from byoc_pipelines.conformance import inputs, multimodel, serverless
from byoc_pipelines.conformance.catalog import CHECKS
from byoc_pipelines.conformance.context import Options
from byoc_pipelines.conformance.results import Report
from byoc_pipelines.conformance.runner import Run

pytestmark = pytest.mark.container

FAKE_DESCRIPTOR = Path(__file__).parent / "images" / "image.toml"

SERVING = ("S2.ready", "S2.latency", "S2.busy", "S3.accept", "S3.invocations", "S4.headers", "S4.custom-attributes")
CLIENT = ("S5.max-body", "S5.over-limit", "S6.content-type", "S6.accept", "S6.malformed", "S6.empty")
UNLABELLED = ("S7.bind-port", "S7.safe-ports", *multimodel.IDS)
LABELLED = {"good", "load-twice-200"}  # the others are built FROM the unlabelled base
BIND_ONLY = ("S7.bind-port", "S7.safe-ports")
SERVERLESS_RUNS = {"good", "memory-hog"}

FAILS: dict[str, set[str]] = {
    "good": set(),
    "ignores-sigterm": {"T5", "S1.sigterm"},
    "shell-entrypoint": {"T1.args", "T1.pid1", "T5", "S1.sigterm"},
    "no-failure-file": {"T3"},
    "no-cmd": {"T1.cmd"},
    "port-8081": {"S1.port"},
    "malformed-500": {"S6.malformed"},
    "slow-ping": {"S2.latency", "S2.busy"},
    "reset-large-body": {"S5.max-body", "S5.over-limit"},
    "multi-record-casing": {"B.execution-parameters"},
    "load-twice-200": {"M.load-twice"},
    "memory-hog": {"V.ping"},
}
EXTRA_SKIPS: dict[str, set[str]] = {  # checks a fault leaves nothing to run on
    "port-8081": {*SERVING, *CLIENT, "B.environment", "B.execution-parameters", "B.multi-record"},
    "memory-hog": {"V.payload", "V.invocations"},
    "load-twice-200": set(BIND_ONLY),  # labelled multi-model only
}


def expected(name: str) -> dict[str, str]:
    statuses = {check.id: "pass" for check in CHECKS}
    skips = set(EXTRA_SKIPS.get(name, set()))
    if name not in LABELLED:
        skips |= set(UNLABELLED)
    if name not in SERVERLESS_RUNS:
        skips |= set(serverless.IDS)
    statuses |= {check: "skip" for check in skips}
    return statuses | {check: "fail" for check in FAILS[name]}


def suite(image: str, out: Path, *, generic: bool = False, serverless_mb: int | None = None) -> Report:
    found = None if generic else descriptor.load(FAKE_DESCRIPTOR)
    families = {"training", "serving", "batch", "multi-model"} | ({"serverless"} if serverless_mb else set())
    options = Options(stop_wait_s=8.0, serverless_memory_mb=serverless_mb, families=frozenset(families))
    return Run(image, inputs.from_options(found), options, out).execute()


@pytest.fixture(scope="module")
def reports(fakes: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    out = tmp_path_factory.mktemp("conformance")
    with ThreadPoolExecutor(4) as pool:
        runs = {
            name: pool.submit(suite, fakes[name], out, serverless_mb=1024 if name in SERVERLESS_RUNS else None)
            for name in FAILS
        }
        return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("name", sorted(FAILS))
def test_each_image_fails_exactly_its_own_checks(reports: dict[str, Report], name: str) -> None:
    report = reports[name]
    reasons = {
        r.check.id: f"{r.measured} | {r.detail}" for r in report.results if r.status.value != expected(name)[r.check.id]
    }
    assert report.statuses() == expected(name), reasons


def test_a_failed_check_says_what_was_measured(reports: dict[str, Report]) -> None:
    by_id = {r.check.id: r for r in reports["port-8081"].results}
    assert by_id["S1.port"].measured == "port 8081"
    assert "nothing listens on 8080" in by_id["S1.port"].detail
    assert "blocked by S1.port" in by_id["S2.ready"].detail
    casing = {r.check.id: r for r in reports["multi-record-casing"].results}["B.execution-parameters"]
    assert "MULTI_RECORD" in casing.detail and "MultiRecord" in casing.detail
    stopped = {r.check.id: r for r in reports["ignores-sigterm"].results}["T5"]
    assert stopped.measured == "still running 8 s after SIGTERM"


def test_without_a_descriptor_the_generic_inputs_check_the_control(fakes: dict[str, str], tmp_path: Path) -> None:
    report = suite(fakes["good"], tmp_path, generic=True, serverless_mb=1024)
    assert report.statuses() == expected("good"), [r.as_dict() for r in report.results if r.status.value == "fail"]
    by_id = {r.check.id: r for r in report.results}
    assert report.descriptor is None
    assert "generic bodies" in by_id["S3.invocations"].detail
    assert "conformance-unknown-hyperparameter=1" in by_id["T2.failure"].detail
