"""Batch transform as SageMaker runs it with BatchStrategy=MultiRecord, SplitType=Line: CSV lines packed into
requests of at most MaxPayloadInMB, MaxConcurrentTransforms requests in flight."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests

MAX_PAYLOAD = 6 * 1024 * 1024  # MaxPayloadInMB=6


def csv_chunks(rows: np.ndarray, limit: int = MAX_PAYLOAD) -> list[tuple[bytes, int]]:
    """Rows as CSV lines packed into bodies of at most ``limit`` bytes: ``(body, rows in it)``."""
    buffer = io.BytesIO()
    np.savetxt(buffer, rows, fmt="%d", delimiter=",")
    chunks: list[tuple[bytes, int]] = []
    lines: list[bytes] = []
    size = 0
    for line in buffer.getvalue().splitlines(keepends=True):
        if size + len(line) > limit:
            chunks.append((b"".join(lines), len(lines)))
            lines, size = [], 0
        lines.append(line)
        size += len(line)
    return [*chunks, (b"".join(lines), len(lines))]


def http_batch(
    url: str, bodies: list[bytes], concurrency: int, content_type: str = "text/csv"
) -> tuple[float, list[int]]:
    """One pass, ``concurrency`` requests in flight; seconds and the answers' lines as integers (labels)."""

    def post(body: bytes) -> list[int]:
        headers = {"Content-Type": content_type, "Accept": "text/csv"}
        answer = requests.post(f"{url}/invocations", data=body, headers=headers, timeout=600)
        answer.raise_for_status()
        return [int(x) for x in answer.text.split()]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        predicted = [y for answer in pool.map(post, bodies) for y in answer]
    return time.perf_counter() - started, predicted
