"""``scripts/new_image.py`` (``make new-image``): names it refuses, and what it writes (standard library only).

The whole path (build, conformance, the workflow) is tests/pipelines/test_new_image.py's.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("new_image", REPO / "scripts" / "new_image.py")
assert spec is not None and spec.loader is not None
new_image = importlib.util.module_from_spec(spec)
spec.loader.exec_module(new_image)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "containers" / "chainer-mnist").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Iris", "is not an image name"),
        ("iris_classifier", "is not an image name"),
        ("-iris", "is not an image name"),
        ("iris-", "is not an image name"),
        ("iris--classifier", "is not an image name"),
        ("9lives", "is not an image name"),
        ("a" * 41, "is not an image name"),
        ("numpy", "would shadow the Python package 'numpy'"),
        ("sm-contract", "would shadow the Python package 'sm_contract'"),
        ("chainer-mnist", "containers/chainer-mnist already exists"),
    ],
)
def test_bad_names_are_refused_with_one_line_and_nothing_written(root: Path, name: str, reason: str) -> None:
    with pytest.raises(new_image.BadName, match=reason) as raised:
        new_image.render(name, root=root)
    assert "\n" not in str(raised.value)
    assert sorted(p.name for p in (root / "containers").iterdir()) == ["chainer-mnist"]
    assert not (root / "tests").exists()


def test_the_template_is_rendered_under_the_new_name(root: Path) -> None:
    written = new_image.render("iris-classifier", root=root)
    image, tests = root / "containers" / "iris-classifier", root / "tests" / "containers" / "iris_classifier"
    assert image / "src" / "iris_classifier" / "image.py" in written
    assert tests / "test_train_serve.py" in written and not (image / "tests").exists()
    for path in written:
        if path.suffix != ".npz":
            text = path.read_text(encoding="utf-8")
            assert "sklearn-template" not in text and "sklearn_template" not in text, path
    assert 'name = "iris-classifier"' in (image / "image.toml").read_text()
    assert '"iris_classifier.image:IMAGE.train"' in (image / "pyproject.toml").read_text()
    assert (image / "requirements.txt").read_bytes() == (root / "templates/sklearn/requirements.txt").read_bytes()
    with pytest.raises(new_image.BadName, match="already exists"):
        new_image.render("iris-classifier", root=root)


def test_the_command_line_says_why_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "new_image.py"), "Bad Name"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("new-image: 'Bad Name' is not an image name") and done.stderr.count("\n") == 1
