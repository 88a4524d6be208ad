"""A definition as a graph: its transitions, the soundness checks, and its Graphviz picture (DOT, PNG, SVG)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from byoc_pipelines.asl.arns import integration
from byoc_pipelines.errors import DefinitionError, ToolMissingError

START, END = "__start__", "__end__"
FILL = {
    "Task": "#dbe9f6",
    "Pass": "#eeeeee",
    "Map": "#e4dcf3",
    "Wait": "#fff4cc",
    "Choice": "#fde2c8",
    "Succeed": "#d8f0d2",
    "Fail": "#f8d0d0",
}


def transitions(state: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(label, target)`` of every transition out of a state: Next, Choice branches and Default, Catch."""
    if "Next" in state:
        yield "", state["Next"]
    for rule in state.get("Choices", []):
        yield _rule_label(rule), rule["Next"]
    if "Default" in state:
        yield "default", state["Default"]
    for handler in state.get("Catch", []):
        yield "catch " + ",".join(handler["ErrorEquals"]), handler["Next"]


def _rule_label(rule: Mapping[str, Any]) -> str:
    if "StringEquals" in rule:
        return str(rule["StringEquals"])
    if "NumericGreaterThanEquals" in rule:
        return f"polls >= {rule['NumericGreaterThanEquals']}"
    return ""


def _ends(state: Mapping[str, Any]) -> bool:
    return bool(state.get("End")) or state["Type"] in ("Succeed", "Fail")


def problems(definition: Mapping[str, Any]) -> list[str]:
    """Dangling transitions, a missing ``StartAt``, unreachable states, no state that ends the execution."""
    states: Mapping[str, Any] = definition["States"]
    found = [
        f"state {name!r} goes to missing state {target!r}"
        for name, state in states.items()
        for _, target in transitions(state)
        if target not in states
    ]
    if definition["StartAt"] not in states:
        found.append(f"StartAt {definition['StartAt']!r} is not a state")
    seen: set[str] = set()
    todo = [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo.extend(target for _, target in transitions(states[name]))
    found += [f"state {name!r} is unreachable" for name in states if name not in seen]
    if not any(_ends(state) for state in states.values()):
        found.append("no state ends the execution")
    for name, state in states.items():  # a Map's item processor is a definition of its own
        if "ItemProcessor" in state:
            found += [f"{name}: {problem}" for problem in problems(state["ItemProcessor"])]
    return found


def check_graph(definition: Mapping[str, Any]) -> None:
    """Every transition lands on a state, every state is reachable, and some state ends the execution."""
    found = problems(definition)
    if found:
        raise DefinitionError("; ".join(found))


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _label(name: str, state: Mapping[str, Any]) -> str:
    resource = state.get("Resource", "")
    if resource:
        return f"{name}\n{integration(resource)}"
    if state["Type"] == "Wait":
        return f"{name}\nWait {state.get('SecondsPath', state.get('Seconds', ''))}"
    if state["Type"] == "Map":
        return f"{name}\nMap over {state.get('ItemsPath', '$')}"
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
        if _ends(state):
            lines.append(f"  {_quote(name)} -> {END};")
    lines.append("}")
    return "\n".join(lines).replace("[, ", "[") + "\n"


def render(dot_source: str, target: Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``target`` with each suffix in ``formats`` using Graphviz ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise ToolMissingError("Graphviz 'dot' is not installed (apt-get install graphviz)")
    written: list[Path] = []
    for fmt in formats:
        path = target.with_suffix(f".{fmt}")
        subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=dot_source, text=True, check=True)
        written.append(path)
    return written
