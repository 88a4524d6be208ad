"""IAM policies checked by parliament (duo-labs' IAM linter, offline: it ships AWS's action and resource data).

It reports malformed documents, unknown actions, resources of the wrong type for an action, and risky grants.
Trust policies are not permission policies, so only the permission documents go through it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any


def _is_trust(document: Mapping[str, Any]) -> bool:
    return any("Principal" in statement for statement in document.get("Statement", []))


def lint(documents: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``"<document>: <ISSUE> <detail>"`` for each finding parliament has (none: the policies pass)."""
    with warnings.catch_warnings():  # parliament 1.6.4 imports pkg_resources, deprecated by setuptools
        warnings.simplefilter("ignore", DeprecationWarning)
        from parliament import analyze_policy_string

    found = []
    for name, document in documents.items():
        if _is_trust(document):
            continue
        policy = analyze_policy_string(json.dumps(document))
        found += [f"{name}: {finding.issue} {json.dumps(finding.detail, default=str)}" for finding in policy.findings]
    return found
