"""containers/prune_bytecode.py, the image build's byte-code trim: what the entry points import keeps its byte code."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from pathlib import Path

from utils.data import REPO

SCRIPT = REPO / "containers" / "prune_bytecode.py"
FILES = {
    "served/__init__.py": "from served import model\n",
    "served/model.py": "VALUE = 1\n",
    "served/lazy.py": "VALUE = 2\n",  # in an imported package, never imported itself
    "unused/__init__.py": "VALUE = 3\n",
    "tool/__init__.py": "VALUE = 4\n",  # never imported, kept by --keep
}


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    for name, text in FILES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    assert compileall.compile_dir(site, quiet=1)
    return site


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(site), *args], env=environ, capture_output=True, text=True, check=False
    )


def _bytecode(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix().split(".")[0] for p in site.rglob("*.pyc")}


def test_only_the_imported_modules_and_kept_packages_keep_their_byte_code(tmp_path: Path) -> None:
    site = _site(tmp_path)
    result = _run(site, "--keep", "tool", "--", "served")
    assert result.returncode == 0, result.stderr
    assert _bytecode(site) == {"served/__pycache__/__init__", "served/__pycache__/model", "tool/__pycache__/__init__"}
    assert not (site / "unused" / "__pycache__").exists()  # emptied folders go too
    assert "kept 3 files" in result.stdout and "removed 2 never imported by served" in result.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import served.lazy, unused; print(served.lazy.VALUE + unused.VALUE)"],
        env={**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "5"  # the sources still import, compiled in memory


def test_a_module_that_does_not_import_stops_the_build_and_deletes_nothing(tmp_path: Path) -> None:
    site = _site(tmp_path)
    before = _bytecode(site)
    result = _run(site, "--", "served", "missing_module")
    assert result.returncode != 0 and "missing_module" in result.stderr
    assert _bytecode(site) == before
