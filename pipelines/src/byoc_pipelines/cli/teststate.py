"""``test-state``: the TestState API offline, one state of a definition file with a mock (no AWS account)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from byoc_pipelines.cli.context import Context
from byoc_pipelines.errors import ConfigurationError


def _json_argument(name: str, text: str | None) -> Any:
    """A JSON value given inline, or ``@file`` for one in a file."""
    if text is None:
        return None
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not JSON: {exc}") from exc


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    """The TestState request (boto3's ``sfn.test_state`` keyword arguments) the flags describe."""
    definition = Path(args.definition)
    if not definition.is_file():
        raise ConfigurationError(f"--definition {args.definition}: no such file")
    request: dict[str, Any] = {
        "definition": definition.read_text(encoding="utf-8"),
        "stateName": args.state,
        "input": json.dumps(_json_argument("--input", args.input) or {}),
        "inspectionLevel": args.inspection_level,
    }
    mock = _json_argument("--mock", args.mock)
    if mock is not None:
        if isinstance(mock.get("result"), dict | list):  # the API wants a JSON string; an object is taken too
            mock["result"] = json.dumps(mock["result"])
        request["mock"] = mock
    if args.retrier_retry_count is not None:
        request["stateConfiguration"] = {"retrierRetryCount": args.retrier_retry_count}
    context = _json_argument("--context", args.context)
    if context is not None:
        request["context"] = json.dumps(context)
    return request


def cmd_test_state(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.teststate import test_state

    ctx.out.write(json.dumps(test_state(request_of(args)), indent=2, ensure_ascii=False) + "\n")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "test-state", parents=[common], help="TestState offline: one state with a mock, the API's answer as JSON"
    )
    parser.add_argument("--definition", required=True, help="a definition's JSON file (or one state's)")
    parser.add_argument("--state", help="the state to test (needed when the file is a whole definition)")
    parser.add_argument("--input", help="the state's input: JSON, or @FILE")
    parser.add_argument(
        "--mock",
        help='{"result": ...} or {"errorOutput": {"error": ..., "cause": ...}}, optionally "fieldValidationMode" '
        "(STRICT, PRESENT, NONE): JSON, or @FILE",
    )
    parser.add_argument("--retrier-retry-count", type=int, help="retries already made by the matching retrier")
    parser.add_argument("--inspection-level", choices=("INFO", "DEBUG", "TRACE"), default="INFO")
    parser.add_argument("--context", help="context object fields ($$), JSON or @FILE")
    parser.set_defaults(handler=cmd_test_state)
