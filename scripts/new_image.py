#!/usr/bin/env python3
"""``make new-image NAME=<name>``: a new image from a template, standard library only.

    python3 scripts/new_image.py NAME [--template sklearn]

Copies ``templates/<template>/`` to ``containers/<name>/`` and its ``tests/`` to ``tests/containers/<package>/``,
replacing the template's name (``sklearn-template``) with NAME and its package (``sklearn_template``) with NAME's
package (``-`` becomes ``_``), in file names and contents. The image then builds, passes ``make conformance``,
trains and serves in local mode and runs its workflow with no other edit: every tool reads its
``image.toml``. A bad name or an existing folder is refused with a one-line error and nothing is written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_NAME, TEMPLATE_PACKAGE = "sklearn-template", "sklearn_template"
# A DNS-style label (as ECR repositories and Docker tags like them): lowercase letters, digits, inner hyphens.
NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# Packages the image imports: a package of the same name would shadow them.
TAKEN = {"sm_contract", "sklearn", "numpy", "scipy", "joblib", "starlette", "uvicorn", "tests", "utils", "test"}
SKIPPED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


class BadName(ValueError):
    """A name that cannot become an image."""


def check(name: str, root: Path) -> str:
    """The package of ``name``, or a one-line reason it cannot be an image here."""
    if not NAME.match(name) or "--" in name:
        raise BadName(
            f"'{name}' is not an image name: lowercase letters, digits and single inner hyphens, "
            "starting with a letter, at most 40 characters (e.g. iris-classifier)"
        )
    package = name.replace("-", "_")
    if package in TAKEN:
        raise BadName(f"'{name}' would shadow the Python package '{package}' the image imports; choose another")
    for folder in (root / "containers" / name, root / "tests" / "containers" / package):
        if folder.exists():
            raise BadName(f"{folder.relative_to(root)} already exists; choose another name")
    return package


def _render(text: str, name: str, package: str) -> str:
    return text.replace(TEMPLATE_NAME, name).replace(TEMPLATE_PACKAGE, package)


def _copy(source: Path, target: Path, name: str, package: str) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or SKIPPED & set(relative.parts):
            continue
        destination = target / _render(str(relative), name, package)
        destination.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        try:
            destination.write_text(_render(data.decode("utf-8"), name, package), encoding="utf-8")
        except UnicodeDecodeError:  # a binary file: copied as it is
            destination.write_bytes(data)
        shutil.copymode(path, destination)


def render(name: str, template: str = "sklearn", root: Path = ROOT) -> list[Path]:
    """Write the new image's folder and its tests; returns the files written."""
    package = check(name, root)
    source = root / "templates" / template
    if not (source / "image.toml").is_file():
        known = ", ".join(sorted(p.parent.name for p in (root / "templates").glob("*/image.toml")))
        raise BadName(f"no template '{template}' (templates: {known})")
    image_dir, tests_dir = root / "containers" / name, root / "tests" / "containers" / package
    try:
        _copy(source, image_dir, name, package)
        tests_dir.parent.mkdir(parents=True, exist_ok=True)
        (image_dir / "tests").rename(tests_dir)  # the tests live with the other images' (tests/README.md)
    except BaseException:
        shutil.rmtree(image_dir, ignore_errors=True)
        shutil.rmtree(tests_dir, ignore_errors=True)
        raise
    return sorted(p for p in [*image_dir.rglob("*"), *tests_dir.rglob("*")] if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("name", metavar="NAME", help="the image's name, e.g. iris-classifier")
    parser.add_argument("--template", default="sklearn", help="a folder of templates/ (default: sklearn)")
    args = parser.parse_args(argv)
    try:
        written = render(args.name, args.template)
    except BadName as exc:
        print(f"new-image: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"   {path.relative_to(ROOT)}")
    package = args.name.replace("-", "_")
    print(f">> containers/{args.name} and tests/containers/{package} written; next: make build/{args.name}, then")
    print(f"   make conformance IMAGE=byoc/{args.name}:latest; make pipeline/render adds its state machine's JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
