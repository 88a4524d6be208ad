"""Docs that stay true: no placeholder text in any tracked Markdown file, and each image's README lists every
hyperparameter its trainer accepts (its ``Hyperparameters`` dataclass), with the default the code has."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sm_contract.hyperparameters import key_of
from utils.data import REPO

PLACEHOLDER = re.compile(r"\b[A-Z0-9_]*PLACEHOLDER\b|\b(?:TODO|TBD|FIXME|XXX)\b|[Ll]orem ipsum")
TABLE_HEADER = re.compile(r"^\|\s*name\s*\|\s*default\s*\|")
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|")


def _tracked_markdown() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in listed.stdout.split()]


def _hyperparameter_classes() -> dict[str, dict[str, Any]]:
    """Per image folder: the fields (as hyperparameter keys) of its ``Hyperparameters`` dataclass, with defaults.

    Read from the source (ast), since no venv holds every image's framework to import them all.
    """
    found: dict[str, dict[str, Any]] = {}
    for source in sorted(REPO.glob("containers/*/src/**/*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name == "Hyperparameters":
                image = source.relative_to(REPO / "containers").parts[0]
                fields = {
                    key_of(item.target.id): ast.literal_eval(item.value) if item.value is not None else None
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
                found.setdefault(image, {}).update(fields)
    return found


def _readme_table(readme: Path) -> dict[str, str]:
    """The README's hyperparameter table (``| name | default | ... |``): each name with its default cell."""
    rows: dict[str, str] = {}
    in_table = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if TABLE_HEADER.match(line):
            in_table = True
        elif in_table and not line.startswith("|"):
            break
        elif in_table and (match := ROW.match(line)):
            rows[match.group(1)] = match.group(2).strip().strip("`")
    return rows


def _same_default(cell: str, default: Any) -> bool:
    if isinstance(default, bool):
        return cell.lower() == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(cell.replace(",", "")) == float(default)
        except ValueError:
            return False
    return cell == str(default)


def test_no_tracked_markdown_holds_placeholder_text() -> None:
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _tracked_markdown()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PLACEHOLDER.search(line)
    ]
    assert not hits, "placeholder text in the docs:\n" + "\n".join(hits)


def test_every_image_with_a_trainer_is_checked() -> None:
    assert {"chainer-mnist", "keras-text"} <= _hyperparameter_classes().keys()


@pytest.mark.parametrize("image", sorted(_hyperparameter_classes()))
def test_the_readme_lists_every_hyperparameter_with_its_default(image: str) -> None:
    fields = _hyperparameter_classes()[image]
    table = _readme_table(REPO / "containers" / image / "README.md")
    assert table, f"containers/{image}/README.md has no `| name | default | meaning |` table"
    assert sorted(fields.keys() - table.keys()) == [], f"containers/{image}/README.md lacks these hyperparameters"
    assert sorted(table.keys() - fields.keys()) == [], f"containers/{image}/README.md lists unknown hyperparameters"
    wrong = {key: (table[key], fields[key]) for key in fields if not _same_default(table[key], fields[key])}
    assert not wrong, f"README default vs code default: {wrong}"
