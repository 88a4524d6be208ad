"""MNIST subsets for tests; they live in :mod:`utils.fixture_data` with the other fixture data."""

from __future__ import annotations

from utils.fixture_data import mnist_subset_bytes

__all__ = ["mnist_subset_bytes"]
