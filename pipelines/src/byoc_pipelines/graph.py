"""A definition as a Graphviz picture: DOT source (pure), PNG and SVG through the ``dot`` executable."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from byoc_pipelines.definitions import transitions
from byoc_pipelines.errors import PipelineError

START, END = "__start__", "__end__"
FILL = {
    "Task": "#dbe9f6",
    "Pass": "#eeeeee",
    "Wait": "#fff4cc",
    "Choice": "#fde2c8",
    "Succeed": "#d8f0d2",
    "Fail": "#f8d0d0",
}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _label(name: str, state: Mapping[str, Any]) -> str:
    resource = state.get("Resource", "")
    if resource:
        return f"{name}\n{resource.removeprefix('arn:aws:states:::')}"
    if state["Type"] == "Wait":
        return f"{name}\nWait {state.get('SecondsPath', state.get('Seconds', ''))}"
    return f"{name}\n{state['Type']}"


def to_dot(title: str, definition: Mapping[str, Any]) -> str:
    """DOT source: one box per state, solid transitions, dashed red Catch edges, start and end markers."""
    lines = [
        f"digraph {_quote(title)} {{",
        '  graph [rankdir=TB, fontname="Helvetica", labelloc=t, label=' + _quote(title) + "];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
        f'  {START} [label="Start", shape=circle, fillcolor="#333333", fontcolor=white, width=0.6];',
        f'  {END} [label="End", shape=doublecircle, fillcolor="#333333", fontcolor=white, width=0.5];',
        f"  {START} -> {_quote(definition['StartAt'])};",
    ]
    for name, state in definition["States"].items():
        label, fill = _label(name, state), FILL.get(state["Type"], "#ffffff")
        lines.append(f"  {_quote(name)} [label={_quote(label)}, fillcolor={_quote(fill)}];")
    for name, state in definition["States"].items():
        for label, target in transitions(state):
            style = ', style=dashed, color="#c0392b"' if label.startswith("catch") else ""
            text = f", label={_quote(label)}" if label else ""
            lines.append(f"  {_quote(name)} -> {_quote(target)} [{text.lstrip(', ')}{style}];")
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            lines.append(f"  {_quote(name)} -> {END};")
    lines.append("}")
    return "\n".join(lines).replace("[, ", "[") + "\n"


def render(dot_source: str, target: Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``target`` with each suffix in ``formats`` using Graphviz ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise PipelineError("Graphviz 'dot' is not installed (apt-get install graphviz)")
    written = []
    for fmt in formats:
        path = target.with_suffix(f".{fmt}")
        subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=dot_source, text=True, check=True)
        written.append(path)
    return written
