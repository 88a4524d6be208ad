"""Keep the byte code of the modules an image's entry points import; drop the rest of a site-packages' byte code.

    python prune_bytecode.py SITE_PACKAGES [--keep PACKAGE ...] -- MODULE [MODULE ...]

Imports every MODULE (a failure stops the build, so this is the image's import check too), then deletes each
``__pycache__/*.pyc`` under SITE_PACKAGES that no imported module was loaded from, except those of the --keep
packages. Imported modules thus start from byte code compiled at build time; a module never imported this way
still works, compiled in memory when something imports it (``PYTHONDONTWRITEBYTECODE`` keeps it from being
written at run time). Standard library only: it runs in the image's build stage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def loaded_bytecode() -> set[Path]:
    """The byte-code files of every module imported so far."""
    cached = (getattr(module, "__cached__", None) for module in list(sys.modules.values()))
    return {Path(path).resolve() for path in cached if isinstance(path, str)}


def prune(site: Path, keep: set[Path], keep_packages: set[str]) -> tuple[int, int, int, int]:
    """Deletes the byte code under ``site`` not in ``keep`` nor in ``keep_packages``; (kept, kept bytes, removed,
    removed bytes). Folders left empty go too."""
    kept = kept_bytes = removed = removed_bytes = 0
    for pyc in sorted(site.rglob("__pycache__/*.pyc")):
        size = pyc.stat().st_size
        if pyc.resolve() in keep or pyc.relative_to(site).parts[0] in keep_packages:
            kept, kept_bytes = kept + 1, kept_bytes + size
            continue
        pyc.unlink()
        removed, removed_bytes = removed + 1, removed_bytes + size
        if not any(pyc.parent.iterdir()):
            pyc.parent.rmdir()
    return kept, kept_bytes, removed, removed_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path, help="the site-packages folder to prune")
    parser.add_argument("--keep", action="append", default=[], metavar="PACKAGE", help="keep all its byte code")
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="the modules the image's entry points import")
    args = parser.parse_args(argv)
    for name in args.modules:
        importlib.import_module(name)
    kept, kept_bytes, removed, removed_bytes = prune(args.site, loaded_bytecode(), set(args.keep))
    print(
        f"byte code: kept {kept} files ({kept_bytes / 1e6:.1f} MB), "
        f"removed {removed} never imported by {', '.join(args.modules)} ({removed_bytes / 1e6:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
