"""A small evaluator of IAM identity policies, enough to check ours: Allow/Deny, wildcards, three condition kinds.

Not AWS's full algorithm (no NotAction/NotResource, no policy variables, no set operators): our policies use
none of them, and an unsupported element makes the evaluator raise instead of guessing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

SUPPORTED = {"Sid", "Effect", "Action", "Resource", "Condition"}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcards: ``*`` any run of characters (``:`` and ``/`` included), ``?`` one character."""
    regex = fnmatch.translate(pattern)
    return re.match(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            value = context[key]
            if operator == "StringEquals":
                ok = value in _listed(expected)
            elif operator in ("StringLike", "ArnLike"):
                ok = any(_like(pattern, value) for pattern in _listed(expected))
            else:
                raise ValueError(f"condition operator {operator} is not supported here")
            if not ok:
                return False
    return True


def _matches(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    unknown = set(statement) - SUPPORTED
    if unknown:
        raise ValueError(f"statement elements {sorted(unknown)} are not supported here")
    return (
        any(_like(pattern, action, case=False) for pattern in _listed(statement["Action"]))
        and any(_like(pattern, resource) for pattern in _listed(statement["Resource"]))
        and _condition_holds(statement.get("Condition", {}), context)
    )


def allows(policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
    """True when some statement allows ``action`` on ``resource`` and none denies it."""
    matching = [s for s in policy["Statement"] if _matches(s, action, resource, context or {})]
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def granted_actions(policy: Mapping[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in _listed(statement["Action"])}
