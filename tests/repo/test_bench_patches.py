"""The serving profile's variants (bench/serving_patches.py) patch code that exists: each applies to today's
module of sm_contract and still compiles, and a stale one stops the bench instead of being skipped."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from utils.data import REPO

SM_CONTRACT = REPO / "containers/sm_contract/src/sm_contract"


def _patches() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serving_patches", REPO / "bench/serving_patches.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


PATCHES = _patches()


@pytest.mark.parametrize("patch", [p for p in PATCHES.PATCHES if p.replacements], ids=lambda p: p.name)
def test_every_variant_applies_to_todays_module(patch, tmp_path: Path) -> None:
    source = (SM_CONTRACT / patch.module).read_text()
    written = PATCHES.write(patch, source, tmp_path)
    assert written is not None
    patched = written.read_text()
    assert patched != source
    compile(patched, str(written), "exec")


def test_a_stale_variant_fails_loudly() -> None:
    stale = PATCHES.Patch("stale", "patches code that is gone", replacements=(("no such line", ""),))
    with pytest.raises(PATCHES.StalePatchError, match="stale: 'no such line' not found") as raised:
        PATCHES.apply(stale, (SM_CONTRACT / stale.module).read_text())
    assert not isinstance(raised.value, LookupError)  # the profile skips LookupErrors; this must not be skipped
