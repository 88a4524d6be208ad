"""A served model's code/requirements.txt: what is refused before pip runs (and where), checked against pip's own
reading of the same files, strict mode's flags, and the report of what pip installed."""

from __future__ import annotations

import functools
import json
import logging
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sm_contract.errors import ConfigurationError
from sm_contract.script_mode import model_requirements, user_code

HASH = "sha256:024ca478df22e9340661486f85298cff5f6dcdba14f3813e8830015b9ed1948f"


def _code(tmp_path: Path, text: str | bytes, files: dict[str, str] | None = None) -> Path:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "requirements.txt").write_bytes(text if isinstance(text, bytes) else text.encode())
    for name, content in (files or {}).items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(content)
    return code


ALLOWED = [
    "tabulate==0.9.0\nnumpy>=1.26,<3  # a comment\n\n",
    f"tabulate==0.9.0 \\\n    --hash={HASH} \\\n    --hash=sha256:{'0' * 64}\n",
    "--require-hashes\n--only-binary :all:\n--prefer-binary\n--pre\n--no-index\n--no-binary=tabulate\ntabulate\n",
    "requests[socks]>=2 ; python_version >= '3.8'\nSudachiPy==0.7.0\n",
    "# only comments\n   # indented comment \\\n",
    "\ufefftabulate==0.9.0\n",  # a UTF-8 byte order mark, which pip drops too
    "# -*- coding: utf-8 -*-\ntabulate\n",
]


@pytest.mark.parametrize("text", ALLOWED)
def test_requirements_by_name_pass(tmp_path: Path, text: str) -> None:
    model_requirements.check(_code(tmp_path, text) / "requirements.txt", tmp_path / "code")


def test_nested_files_inside_the_code_folder_pass(tmp_path: Path) -> None:
    files = {"extra.txt": "-c pins/c.txt\nx\n", "pins/c.txt": "x<2\n"}
    code = _code(tmp_path, "-r extra.txt\n--constraint=pins/c.txt\n", files)
    model_requirements.check(code / "requirements.txt", code)


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("tabulate\n--index-url https://pypi.example/simple\n", "line 2", "where packages come from"),
        ("-i https://pypi.example/simple\n", "line 1", "where packages come from"),
        ("-ihttps://pypi.example/simple\n", "line 1", "where packages come from"),
        ("--extra-index-url=https://pypi.example/simple\n", "line 1", "where packages come from"),
        ("-f https://files.example/\n", "line 1", "where packages come from"),
        ("--find-links ./wheels\n", "line 1", "where packages come from"),
        ("--trusted-host pypi.example\n", "line 1", "where packages come from"),
        ("-e git+https://git.example/x.git#egg=x\n", "line 1", "where packages come from"),
        ("--extra https://pypi.example/simple\n", "line 1", "not an option"),  # pip's abbreviation of a refused one
        ("--index=https://pypi.example/simple\n", "line 1", "not an option"),
        ("x @ https://files.example/x-1-py3-none-any.whl\n", "line 1", "from a URL"),
        ("https://files.example/x-1-py3-none-any.whl\n", "line 1", "not a requirement by name"),
        ("git+https://git.example/x.git\n", "line 1", "not a requirement by name"),
        ("./vendored/pkg\n", "line 1", "not a requirement by name"),
        ("/srv/pkg.tar.gz\n", "line 1", "not a requirement by name"),
        ("evil.whl\n", "line 1", "local archive file"),
        ("pkg.tar.gz\n", "line 1", "local archive file"),
        ("tabulate --index-url https://pypi.example/simple\n", "line 1", "where packages come from"),
        ("tabulate --pre\n", "line 1", "not an option of a requirement"),
        ("tabulate --global-option=--verbose\n", "line 1", "not an option"),
        ("tabulate --config-settings=x=y\n", "line 1", "not an option"),
        ("--use-feature=truststore\n", "line 1", "not an option"),
        ("-r ../outside.txt\n", "line 1", "not a file in the code folder"),
        ("-r /etc/hostname\n", "line 1", "not a file in the code folder"),
        ("-c https://files.example/c.txt\n", "line 1", "must be a file in the code folder"),
        ("-r missing.txt\n", "line 1", "not a file in the code folder"),
        ("${PIP_SECRET}\n", "line 1", "environment variables"),
        ("--hash\n", "line 1", "needs a value"),
        ("--pre=yes\n", "line 1", "takes no value"),
        ("--pre stray\n", "line 1", "neither an option nor part"),
        ("--only-binary ':all:\n", "line 1", "cannot be read"),
        # Lines pip sees that a reader splitting at \n only would not: pip splits with str.splitlines
        ("# a comment\x85--index-url https://pypi.example/simple\n", "line 2", "where packages come from"),
        ("tabulate\u2028-i https://pypi.example/simple\n", "line 2", "where packages come from"),
        ("tabulate\x0c--find-links x\n", "line 2", "where packages come from"),
        ("a \\\nb \\\n--index-url x\n", "line 1", "not a requirement by name"),  # continuations join
    ],
)
def test_refused_lines_are_named(tmp_path: Path, text: str, where: str, why: str) -> None:
    code = _code(tmp_path, text)
    (tmp_path / "outside.txt").write_text("x\n")
    with pytest.raises(ConfigurationError) as raised:
        model_requirements.check(code / "requirements.txt", code)
    message = str(raised.value)
    assert message.startswith(f"code/requirements.txt {where}: ") and why in message, message
    assert "\n" not in message


def test_a_nested_file_is_checked_and_named(tmp_path: Path) -> None:
    code = _code(tmp_path, "tabulate\n-r more.txt\n", {"more.txt": "x\n\n--extra-index-url https://pypi.example/\n"})
    with pytest.raises(ConfigurationError, match=r"^code/more\.txt line 3: .* where packages come from"):
        model_requirements.check(code / "requirements.txt", code)
    (code / "more.txt").write_text("-r requirements.txt\n")
    with pytest.raises(ConfigurationError, match="includes itself"):
        model_requirements.check(code / "requirements.txt", code)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("tabulate\n".encode("utf-16"), "byte order mark"),
        (b"# coding: latin-1\ntabulate # \xc3\x85\n", "declares the encoding latin-1"),
        (b"tabulate # \xff\n", r"not UTF-8 \(byte 11\)"),
    ],
)
def test_files_pip_could_read_otherwise_are_refused(tmp_path: Path, data: bytes, why: str) -> None:
    code = _code(tmp_path, data)
    with pytest.raises(ConfigurationError, match=why):
        model_requirements.check(code / "requirements.txt", code)


def test_strict_mode_takes_wheels_only(tmp_path: Path) -> None:
    code = _code(tmp_path, "--no-binary :all:\ntabulate\n")
    model_requirements.check(code / "requirements.txt", code, strict=False)
    with pytest.raises(ConfigurationError, match=r"line 1: .* allows wheels only"):
        model_requirements.check(code / "requirements.txt", code, strict=True)
    assert model_requirements.strict_mode({"MODEL_REQUIREMENTS_STRICT": "True"})
    assert not model_requirements.strict_mode({}) and not model_requirements.strict_mode({"x": "1"})
    with pytest.raises(ConfigurationError, match="MODEL_REQUIREMENTS_STRICT='sure': use true or false"):
        model_requirements.strict_mode({"MODEL_REQUIREMENTS_STRICT": "sure"})


SAFE = [
    "tabulate==0.9.0",
    f"tabulate --hash={HASH}",
    "numpy>=1 ; python_version >= '3'",
    "# a comment",
    "x # trailing comment",
    "--pre",
    "--no-index",
    "--only-binary :all:",
    "-r more.txt",
    "",
]
SOURCES = [
    "--index-url https://pypi.example/simple",
    "-ihttps://pypi.example/simple",
    "--extra https://pypi.example/simple",
    "--find-links=https://files.example/",
    "--trusted-host pypi.example",
    "-e git+https://git.example/x.git",
    "x @ https://files.example/x.whl",
    "https://files.example/x.whl",
    "evil.whl",
    "'--index-url' https://pypi.example/simple",
]
# Every character str.splitlines ends a line at, continuations, and what may hide the next fragment in a comment.
SEPARATORS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SEPARATORS += [" \\\n", "\\\n", " ", "\t", " # ", "\\"]
FILES = st.lists(
    st.tuples(st.sampled_from(SAFE * 3 + SOURCES), st.sampled_from(SEPARATORS)), min_size=1, max_size=5
).map(lambda parts: "".join(fragment + separator for fragment, separator in parts))


@functools.cache
def _pip_session() -> object:
    """One for every example: building a session costs about 40 ms of CPU, and reading local files never uses it."""
    from pip._internal.network.session import PipSession

    return PipSession()


def _pip_reads(path: Path) -> list[object]:
    """What pip 23's own requirements-file parser makes of a file (nested files followed)."""
    from pip._internal.req.req_file import RequirementsFileParser, get_line_parser

    parser = RequirementsFileParser(_pip_session(), get_line_parser(None))  # type: ignore[arg-type]
    return list(parser.parse(str(path), constraint=False))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FILES)
@example("# a comment\x85--index-url https://pypi.example/simple\n")
@example("tabulate\u2028-i https://pypi.example/simple")
@example("x # trailing comment\x0c--find-links=https://files.example/")
@example("# a comment \\\n--trusted-host pypi.example\n")
def test_whatever_the_check_lets_through_pip_reads_as_names_only(tmp_path: Path, text: str) -> None:
    """The check is this module's own reading of pip's format: every file it accepts, pip itself reads as
    requirements by name and allowed options only."""
    from packaging.requirements import Requirement

    code = _code(tmp_path, text, {"more.txt": "tabulate\n"})
    try:
        model_requirements.check(code / "requirements.txt", code)
    except ConfigurationError:
        return
    try:
        read = _pip_reads(code / "requirements.txt")
    except Exception:  # pip refuses the file itself: nothing gets installed
        return
    for line in read:
        options = line.opts  # type: ignore[attr-defined]
        assert not (options.index_url or options.extra_index_urls or options.find_links), text
        assert not (options.trusted_hosts or options.editables or options.features_enabled), text
        if line.is_requirement:  # type: ignore[attr-defined]
            requirement = Requirement(line.requirement)  # type: ignore[attr-defined]
            assert requirement.url is None and not requirement.name.endswith(model_requirements.ARCHIVES), text


def test_install_checks_then_runs_pip_with_strict_flags_and_logs_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[list[str]] = []

    def pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        report = {"install": [{"metadata": {"name": "tabulate", "version": "0.9.0"}, "download_info": {
            "url": "https://files.example/tabulate-0.9.0-py3-none-any.whl",
            "archive_info": {"hashes": {"sha256": HASH.removeprefix("sha256:")}},
        }}]}  # fmt: skip
        Path(command[command.index("--report") + 1]).write_text(json.dumps(report))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(user_code.subprocess, "run", pip)
    code = _code(tmp_path, f"tabulate==0.9.0 --hash={HASH}\n")
    with caplog.at_level(logging.INFO, logger="sm_contract"):
        model_requirements.install(code, {"MODEL_REQUIREMENTS_STRICT": "true"})
    (command,) = calls
    assert command[-4:] == ["--require-hashes", "--only-binary=:all:", "-r", str(code / "requirements.txt")]
    assert "requirements.txt installed 1 package(s): tabulate==0.9.0" in caplog.text
    sha256 = HASH.removeprefix("sha256:")
    assert f"installed tabulate==0.9.0 from https://files.example/tabulate-0.9.0-py3-none-any.whl sha256={sha256}" in (
        caplog.text
    )
    (code / "requirements.txt").write_text("--extra-index-url https://pypi.example/simple\ntabulate\n")
    with pytest.raises(ConfigurationError, match="line 1"):
        model_requirements.install(code, {})
    assert len(calls) == 1  # refused before pip ran
