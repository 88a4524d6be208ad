"""MIME types and the parsing of Content-Type and Accept headers."""

from __future__ import annotations

from collections.abc import Sequence

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"


def media_type(header: str | None) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"`` (lower case, parameters dropped)."""
    return (header or "").split(";", 1)[0].strip().lower()


def _accept_ranges(header: str) -> list[tuple[str, float]]:
    ranges = []
    for index, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        mime = fields[0].lower()
        if not mime:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Stable order: higher q first, then more specific ranges, then header order.
        ranges.append((mime, quality, -mime.count("*"), -index))
    ranges.sort(key=lambda r: (r[1], r[2], r[3]), reverse=True)
    return [(mime, q) for mime, q, _, _ in ranges]


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered type the Accept header prefers; the first offered for an absent header or ``*/*``.

    ``None`` means nothing acceptable (answer 406).
    """
    if not accept or not accept.strip():
        return offered[0]
    for mime, quality in _accept_ranges(accept):
        if quality <= 0:
            continue
        if mime == ANY:
            return offered[0]
        if mime.endswith("/*"):
            prefix = mime[:-1]
            for candidate in offered:
                if candidate.startswith(prefix):
                    return candidate
        elif mime in offered:
            return mime
    return None


def preferred(accept: str | None) -> str:
    """The most preferred media range of an Accept header (``""`` when absent), for handlers that take any."""
    ranges = [mime for mime, quality in _accept_ranges(accept or "") if quality > 0]
    return ranges[0] if ranges else ""
