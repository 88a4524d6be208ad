"""The session's shared botocore data (conftest.py): a new boto3 session, as each ``mock_aws`` block starts one,
parses no service model again, and a loader of other search paths keeps its own data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

botocore_session = pytest.importorskip("botocore.session", reason="needs the pipelines venv (botocore)")
botocore_loaders = pytest.importorskip("botocore.loaders")


def test_new_sessions_share_the_parsed_service_models(shared_botocore_data: dict[Any, Any], tmp_path: Path) -> None:
    first = botocore_session.Session().get_component("data_loader")
    second = botocore_session.Session().get_component("data_loader")
    assert first.load_service_model("sagemaker", "service-2") is second.load_service_model("sagemaker", "service-2")
    other = botocore_loaders.Loader(extra_search_paths=[str(tmp_path)], include_default_search_paths=False)
    assert other._cache is not first._cache and other._cache is shared_botocore_data[(str(tmp_path),)]
