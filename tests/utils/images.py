"""Image tags come from --image NAME=TAG; tests of an image skip when it is not given."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def image_fixture(name: str) -> Callable[..., str]:
    """A session fixture giving the tag of image ``name``; container tests skip without ``--image``."""

    @pytest.fixture(scope="session")
    def _image(images: dict[str, str]) -> str:
        if name not in images:
            pytest.skip(f"no --image {name}=TAG given")
        return images[name]

    return _image
