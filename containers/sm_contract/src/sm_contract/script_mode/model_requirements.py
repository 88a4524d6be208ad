"""A served model's ``code/requirements.txt``: checked, installed by pip before the workers start, and reported.

AWS's TF Serving container pip-installs that file as root at start-up, and models rely on it. A model's code runs
in the endpoint anyway (``inference.py``, and any package's install hooks), but the file may not choose where
packages come from: index, find-links, trusted-host and editable options, URL and path requirements, and nested
``-r``/``-c`` files outside the code folder are refused with the file and line, before pip runs. Allowed:
requirements by name (PEP 508: extras, versions, markers), ``--hash``, ``--require-hashes``, ``--only-binary``,
``--no-binary``, ``--prefer-binary``, ``--pre``, ``--no-index`` and ``-r``/``-c`` of a file in the code folder.
Set the index for the endpoint instead (``PIP_INDEX_URL`` in the model's environment: the deployer's choice).

Strict mode (``MODEL_REQUIREMENTS_STRICT=true``) adds ``--require-hashes --only-binary=:all:``: every package,
dependencies included, pinned by hash and installed from a wheel (no build code runs); ``--no-binary`` is then
refused. What pip installed is logged with versions, hashes and sources.

The file is read as pip reads it (pip 23): lines split by ``str.splitlines`` (so ``\\x0b``, ``\\x85``, U+2028 and
the like end lines here too, unlike request bodies), ``\\`` continuations, ``#`` comments, options split by
spaces and then as a shell does. A file that is not UTF-8 is refused, so that pip cannot read other lines from it.
"""

from __future__ import annotations

import codecs
import itertools
import logging
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path

from sm_contract.errors import ConfigurationError
from sm_contract.script_mode import user_code

logger = logging.getLogger(__name__)

STRICT_VAR = "MODEL_REQUIREMENTS_STRICT"
STRICT_FLAGS = ("--require-hashes", "--only-binary=:all:")
FLAGS = {"--pre", "--prefer-binary", "--require-hashes", "--no-index"}
VALUED = {"--hash", "--only-binary", "--no-binary", "-r", "--requirement", "-c", "--constraint"}
NESTED = {"-r", "--requirement", "-c", "--constraint"}
SOURCES = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host", "-e", "--editable"}
# File names pip installs as local archives, whatever else they look like (pip's archive extensions).
ARCHIVES = (
    *(".whl", ".zip", ".tar", ".tgz", ".tar.gz", ".tbz", ".tar.bz2"),
    *(".txz", ".tar.xz", ".tlz", ".tar.lz", ".tar.lzma"),
)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{[A-Z0-9_]+\}")  # what pip expands from the environment
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")
_OTHER_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class Refused(ValueError):
    """One line's problem; :func:`check` names the file and the line."""


def strict_mode(environ: Mapping[str, str]) -> bool:
    raw = environ.get(STRICT_VAR, "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigurationError(f"{STRICT_VAR}={environ[STRICT_VAR]!r}: use true or false")
    return raw in _TRUE


def check(requirements: Path, code_dir: Path, strict: bool = False) -> None:
    """ConfigurationError naming the file and line of the first thing refused (see the module's docstring)."""
    _check_file(requirements.resolve(), code_dir.resolve(), strict, ())


def _check_file(path: Path, root: Path, strict: bool, including: tuple[Path, ...]) -> None:
    if not path.is_relative_to(root):  # a link out of the folder
        raise ConfigurationError(f"code/{path.name} is not a file in the code folder")
    name = path.relative_to(root).as_posix()
    if path in including:
        raise ConfigurationError(f"code/{name} includes itself (through -r or -c)")
    for number, line in logical_lines(_decode(path, name)):
        try:
            for nested in _check_line(line, path.parent, root, strict):
                _check_file(nested, root, strict, (*including, path))
        except Refused as exc:
            raise ConfigurationError(f"code/{name} line {number}: {line!r} is refused: {exc}") from None


def _decode(path: Path, name: str) -> str:
    """The file's text, if pip reads the same text from it (UTF-8, with or without its BOM)."""
    data = path.read_bytes()
    if data.startswith(_OTHER_BOMS):
        raise ConfigurationError(f"code/{name} is not UTF-8 (it starts with a UTF-16 or UTF-32 byte order mark)")
    data = data.removeprefix(codecs.BOM_UTF8)
    for line in data.split(b"\n")[:2]:
        declared = _CODING.search(line) if line.startswith(b"#") else None
        if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise ConfigurationError(f"code/{name} declares the encoding {declared.group(1).decode()}: use UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"code/{name} is not UTF-8 (byte {exc.start})") from None


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(number, line)`` as pip reads them: continuations joined (under the first line's number), comments and
    blank lines dropped."""
    joined: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):  # pip splits here; so must the check
        comment = _COMMENT.match(line) is not None
        if line.endswith("\\") and not comment:
            first = first or number
            joined.append(line.strip("\\"))
            continue
        whole = "".join([*joined, " " + line if comment else line])
        if cleaned := _COMMENT.sub("", whole).strip():
            yield first or number, cleaned
        joined, first = [], 0
    if joined and (cleaned := _COMMENT.sub("", "".join(joined)).strip()):
        yield first, cleaned


def _check_line(line: str, folder: Path, root: Path, strict: bool) -> Iterator[Path]:
    """Refused unless allowed; yields the nested files the line includes."""
    if _ENV_VAR.search(line):
        raise Refused("environment variables are not expanded in a model's requirements")
    tokens = line.split(" ")  # pip's split of a line into a requirement and its options
    words = list(itertools.takewhile(lambda token: not token.startswith("-"), tokens))
    requirement = " ".join(words).strip()
    if requirement:
        _check_requirement(requirement)
    try:
        options = shlex.split(" ".join(tokens[len(words) :]))
    except ValueError as exc:
        raise Refused(f"its options cannot be read ({exc})") from None
    for option, value in _options(options):
        if requirement and option != "--hash":
            raise Refused(f"{option} is not an option of a requirement (only --hash is)")
        if strict and option == "--no-binary":
            raise Refused(f"{STRICT_VAR} allows wheels only")
        if option in NESTED and value is not None:
            yield _nested(value, folder, root)


def _check_requirement(text: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement  # pip's own parser of requirement strings

    try:
        parsed = Requirement(text)
    except InvalidRequirement:
        raise Refused("not a requirement by name (URLs, paths and archive files are refused)") from None
    if parsed.url is not None:
        raise Refused("a requirement from a URL; name the package and its version instead")
    if parsed.name.lower().endswith(ARCHIVES):
        raise Refused("pip would install it as a local archive file; name the package and its version instead")


def _options(words: list[str]) -> Iterator[tuple[str, str | None]]:
    """``(option, value)`` as pip's option parser reads them; options not on the allowed list are refused."""
    remaining = iter(words)
    for word in remaining:
        if word.startswith("--"):
            option, equals, value = word.partition("=")
            attached = bool(equals)
        elif word.startswith("-") and len(word) > 1:
            option, value, attached = word[:2], word[2:], len(word) > 2
        else:
            raise Refused(f"{word!r} is neither an option nor part of a requirement")
        if option in SOURCES:
            raise Refused(
                "a model's requirements may not choose where packages come from (index, find-links, trusted-host "
                "and editable options); set PIP_INDEX_URL in the model's environment instead"
            )
        if option in FLAGS:
            if attached:
                raise Refused(f"{option} takes no value")
            yield option, None
        elif option in VALUED:
            found = value if attached else next(remaining, None)
            if found is None:
                raise Refused(f"{option} needs a value")
            yield option, found
        else:
            allowed = ", ".join(sorted(FLAGS | VALUED))
            raise Refused(f"{word} is not an option a model's requirements may use ({allowed})")


def _nested(value: str, folder: Path, root: Path) -> Path:
    if _SCHEME.match(value) or "$" in value:
        raise Refused("a nested requirements file must be a file in the code folder")
    path = (folder / value).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Refused(f"{value} is not a file in the code folder")
    return path


def install(code_dir: Path, environ: Mapping[str, str]) -> None:
    """``code/requirements.txt`` checked, then installed unless every line is an exact pin the image has."""
    requirements = code_dir / user_code.REQUIREMENTS
    if not requirements.is_file():
        return
    strict = strict_mode(environ)
    check(requirements, code_dir, strict)
    if user_code.satisfied(requirements.read_text(encoding="utf-8-sig")):
        logger.info("code/requirements.txt: the image meets every requirement; nothing to install")
        return
    logger.info("installing code/requirements.txt%s", " (strict: " + " ".join(STRICT_FLAGS) + ")" if strict else "")
    arguments = [*(STRICT_FLAGS if strict else ()), "-r", str(requirements)]
    user_code.pip_install(arguments, code_dir, {**environ, "PYTHONUTF8": "1"})  # pip decodes the file as UTF-8
