"""One botocore data cache for the whole session of the pipelines unit tests.

Every ``mock_aws`` block starts a new default boto3 session, and every session a new botocore ``Loader``, which
parses the same service models, endpoint rulesets and partitions from the same JSON files again (about a sixth of
this layer's CPU). The files never change during a run, so loaders with the same search paths share their cache,
as one loader's callers already share what it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

botocore_loaders = pytest.importorskip("botocore.loaders", reason="needs the pipelines venv (botocore)")


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_data() -> Iterator[dict[tuple[str, ...], dict[Any, Any]]]:
    """The caches by search paths; each new ``Loader`` takes the one of its paths."""
    caches: dict[tuple[str, ...], dict[Any, Any]] = {}
    original = botocore_loaders.Loader.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = caches.setdefault(tuple(self.search_paths), {})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore_loaders.Loader, "__init__", init)
        yield caches
