"""The List* operations' filters, sorting and paging (botocore ``ListEndpoints``/``ListEndpointConfigs`` docs)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_RESULTS = 10  # botocore: "This value defaults to 10"
_TIME_FILTERS = (
    ("CreationTimeAfter", "CreationTime", "after"),
    ("CreationTimeBefore", "CreationTime", "before"),
    ("LastModifiedTimeAfter", "LastModifiedTime", "after"),
    ("LastModifiedTimeBefore", "LastModifiedTime", "before"),
)


def _as_time(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    return datetime.datetime.fromisoformat(str(value))


def _kept(entry: Mapping[str, Any], request: Mapping[str, Any], name_key: str, status_key: str | None) -> bool:
    if request.get("NameContains", "") not in entry[name_key]:
        return False
    if status_key and request.get("StatusEquals") not in (None, entry[status_key]):
        return False
    for field, key, side in _TIME_FILTERS:
        if field in request and key in entry:
            limit, value = _as_time(request[field]), entry[key]
            if (side == "after" and value < limit) or (side == "before" and value >= limit):
                return False
    return True


def listed(
    entries: list[dict[str, Any]], request: Mapping[str, Any], name_key: str, status_key: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``entries`` filtered and sorted as the request asks (default: newest first, 10 a page)."""
    found = [entry for entry in entries if _kept(entry, request, name_key, status_key)]
    by = {"Name": name_key, "Status": status_key or name_key}.get(request.get("SortBy", ""), "CreationTime")
    found.sort(key=lambda entry: entry[by], reverse=request.get("SortOrder", "Descending") == "Descending")
    start = int(request.get("NextToken") or 0)
    end = start + int(request.get("MaxResults", DEFAULT_MAX_RESULTS))
    return found[start:end], str(end) if end < len(found) else None
