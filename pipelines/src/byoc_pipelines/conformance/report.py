"""The run's report three ways: a table on the console, JUnit XML (for CI) and JSON (everything measured)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

from byoc_pipelines.conformance.results import Report, Result, Status

MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def progress_line(result: Result) -> str:
    """One line per check as it finishes."""
    text = result.measured or result.detail
    return f"   {MARK[result.status]:4} {result.check.id:22} {_clip(text, 90)}"


def table(report: Report, out: TextIO) -> None:
    """check | result | measured | limit, then the reasons of every failure and skip."""
    width = max(100, min(shutil.get_terminal_size((140, 20)).columns, 200))
    measured_width = max(30, width - 22 - 6 - 24 - 9)
    out.write(f"\n{'check':22} {'result':6} {'measured':{measured_width}} limit\n")
    out.write(f"{'-' * 22} {'-' * 6} {'-' * measured_width} {'-' * 22}\n")
    for r in report.results:
        out.write(
            f"{r.check.id:22} {MARK[r.status]:6} {_clip(r.measured or '-', measured_width):{measured_width}} "
            f"{r.check.limit}\n"
        )
    notes = [r for r in report.results if r.status is not Status.PASS and r.detail]
    if notes:
        out.write("\n")
    for r in notes:
        out.write(f"{r.check.id} ({MARK[r.status]}): {r.detail}\n")
    counts = report.counts()
    verdict = "conforms" if report.ok else "does NOT conform"
    out.write(
        f"\n{report.image} {verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        f" in {report.seconds:.0f} s\n"
    )


def junit(report: Report) -> ET.ElementTree[ET.Element | None]:
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        name=f"conformance {report.image}",
        tests=str(len(report.results)),
        failures=str(counts["fail"]),
        skipped=str(counts["skip"]),
        errors="0",
        time=f"{report.seconds:.1f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{r.check.family}",
            name=f"{r.check.id} {r.check.title}",
            time=f"{r.seconds:.3f}",
        )
        text = f"measured: {r.measured}\nlimit: {r.check.limit} ({r.check.source})\n{r.detail}".strip()
        if r.status is Status.FAIL:
            ET.SubElement(case, "failure", message=_clip(r.detail or r.measured, 200)).text = text
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=_clip(r.detail, 200))
        else:
            ET.SubElement(case, "system-out").text = text
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write(report: Report, folder: Path) -> tuple[Path, Path]:
    """``report.json`` and ``junit.xml`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, xml_path = folder / "report.json", folder / "junit.xml"
    json_path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    junit(report).write(xml_path, encoding="utf-8", xml_declaration=True)
    return json_path, xml_path
