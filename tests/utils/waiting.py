"""Polling with a monotonic clock, and HTTP with retries while a server starts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float, interval_s: float = 0.1, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout_s} s")
        time.sleep(interval_s)


def http_session() -> requests.Session:
    """Retries connection errors and 502/503/504 with backoff (a container may still be starting)."""
    session = requests.Session()
    retry = Retry(total=5, connect=5, backoff_factor=0.2, status_forcelist=(502, 503, 504), allowed_methods=None)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session
