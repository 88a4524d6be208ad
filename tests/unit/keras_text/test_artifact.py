"""What ships inside every model.tar.gz imports with numpy and the standard library alone.

A fresh interpreter blocks every import outside the standard library and numpy (and the shipped modules
themselves), then imports ``inference.py`` as AWS's TF Serving container does, by file from ``code/``, and as
this package does, and runs the request path that needs no tokenizer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_text import artifact

BLOCK = """
import sys

ALLOWED = set(sys.stdlib_module_names) | {"numpy", "inference", "text_pipeline", "keras_text"}
BEFORE = set(sys.modules)  # the interpreter's own start-up (site's .pth hooks among them)


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in ALLOWED:
            raise ModuleNotFoundError(f"blocked: {name}")
        return None


sys.meta_path.insert(0, Blocker())
try:
    import requests  # installed here, but not allowed: proves the blocker works
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the blocker let requests through")
"""

RUN = """
lines = inference.parse_body('{"q": ["電波が悪い", "試合"]}\\n'.encode(), inference.JSONLINES)
texts, line_of, batched = inference.layout(lines)
assert texts == ["電波が悪い", "試合"] and line_of.tolist() == [0, 0] and batched.tolist() == [1, 1]
assert inference.answer_type("application/jsonlines") == inference.JSONLINES
assert inference.pad([[5]], 3).tolist() == [[0, 0, 5]]
outside = sorted({m.partition(".")[0] for m in set(sys.modules) - BEFORE} - set(sys.stdlib_module_names))
print(json.dumps({"outside": outside, "pipeline": inference.text_pipeline.__file__}))
"""

BY_FILE = "import json, sys; sys.path.insert(0, {code!r}); import inference"
BY_PACKAGE = "import json, sys; sys.path.insert(0, {code!r}); from keras_text.artifact import inference"


def test_the_artifact_is_exactly_its_files() -> None:
    shipped = {p.name for p in artifact.DIRECTORY.glob("*.py")} - {"__init__.py"}
    assert shipped == set(artifact.FILES)


@pytest.mark.parametrize(
    ("importer", "expected"),
    [(BY_FILE, ["inference", "numpy", "text_pipeline"]), (BY_PACKAGE, ["keras_text", "numpy"])],
    ids=["code-dir", "package"],
)
def test_imports_with_numpy_and_the_standard_library_only(tmp_path: Path, importer: str, expected: list[str]) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name in artifact.FILES:
        shutil.copyfile(artifact.DIRECTORY / name, code / name)
    where = str(code) if importer == BY_FILE else str(artifact.DIRECTORY.parents[1])
    script = BLOCK + importer.format(code=where) + "\n" + RUN
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["outside"] == expected, found
    assert Path(found["pipeline"]).parent == (code if importer == BY_FILE else artifact.DIRECTORY)
