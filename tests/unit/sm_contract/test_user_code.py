"""Finding and unpacking the user's code; its requirements."""

from __future__ import annotations

import importlib.metadata
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from sm_contract.errors import ConfigurationError
from sm_contract.script_mode import user_code


def _tarball(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


def test_a_folder_is_used_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert user_code.fetch(str(tmp_path / "src"), tmp_path / "code", {}) == tmp_path / "src"
    assert user_code.fetch(f"file://{tmp_path}/src", tmp_path / "code", {}) == tmp_path / "src"


def test_a_tarball_is_unpacked_into_an_empty_code_folder_else_aside(tmp_path: Path) -> None:
    archive = _tarball(tmp_path / "sourcedir.tar.gz", {"train.py": b"print(1)", "lib/util.py": b"X = 1"})
    code = tmp_path / "code"
    assert user_code.fetch(str(archive), code, {}) == code
    assert (code / "lib/util.py").read_bytes() == b"X = 1"
    other = user_code.fetch(str(archive), code, {})  # code/ is not empty any more
    assert other != code and (other / "train.py").is_file()


@pytest.mark.parametrize(
    ("files", "links"),
    [
        ({"../evil.py": b"x"}, {}),
        ({"/etc/evil": b"x"}, {}),
        ({}, {"escape": "../../etc/passwd"}),
        ({}, {"abs": "/etc"}),
    ],
)
def test_a_tarball_reaching_outside_is_refused(tmp_path: Path, files: dict[str, bytes], links: dict[str, str]) -> None:
    archive = _tarball(tmp_path / "bad.tar.gz", files, links)
    with pytest.raises(ConfigurationError, match="would land outside the code folder"):
        user_code.fetch(str(archive), tmp_path / "code", {})


def test_a_missing_location_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="neither a folder nor a tarball"):
        user_code.fetch(str(tmp_path / "nope"), tmp_path / "code", {})


def test_a_failing_requirement_is_named_in_one_line(tmp_path: Path) -> None:
    # --no-index keeps pip offline; the failure is the same as for a package that does not exist on PyPI.
    (tmp_path / "requirements.txt").write_text("--no-index\nno-such-package-byoc==9.9.9\n")
    with pytest.raises(ConfigurationError) as raised:
        user_code.install_requirements(tmp_path, {})
    message = str(raised.value)
    assert message.startswith("requirements.txt could not be installed: ")
    assert "no-such-package-byoc==9.9.9" in message and "\n" not in message


def test_pip_runs_only_for_requirements_the_environment_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(user_code.subprocess, "run", run)
    user_code.install_requirements(tmp_path, {})  # no file
    numpy = importlib.metadata.version("numpy")
    requirements = tmp_path / "requirements.txt"
    met = (
        f"# pinned as installed\nNumPy == {numpy}  # the image's\n\n",
        "numpy\n",  # any installed version meets a bare name, as pip (without --upgrade) judges it
        f"numpy>={numpy},<{int(numpy.split('.')[0]) + 1}",
        'no-such-package-byoc==1.0; python_version < "3"',  # pip ignores a line whose marker leaves us out
    )
    for text in met:
        requirements.write_text(text)
        user_code.install_requirements(tmp_path, {})
    assert calls == []
    unmet = (
        f"numpy>{numpy}",
        "numpy==0.0.1",
        "no-such-package-byoc==1.0",
        f"--no-index\nnumpy=={numpy}",
        f"numpy[dev]=={numpy}",  # extras may need more packages
        "numpy @ https://example.invalid/numpy.whl",
        f"numpy=={numpy} \\\n  --hash=sha256:00",
    )
    for text in unmet:
        requirements.write_text(text)
        user_code.install_requirements(tmp_path, {})
    assert len(calls) == len(unmet)
