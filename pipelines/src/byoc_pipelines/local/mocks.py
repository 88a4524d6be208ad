"""Step Functions Local's mock configuration file, unchanged, on moto's engine, every ``Return`` checked.

The format is AWS's (DG "Using mocked service integrations for testing in Step Functions Local"): ``StateMachines.
<state machine>.TestCases.<test case>`` maps a Task state's name to a mocked-response name; ``MockedResponses.<name>``
maps an invocation number (``"0"``) or inclusive range (``"1-2"``) to exactly one of ``Return`` (the integration's
result) or ``Throw`` (``{"Error", "Cause"}``). Invocations count the attempts of a state, retries included, and a
mocked state needs a response for each: an attempt without one fails the execution (``States.Runtime``, which no
``Catch`` catches), as a mocked state with too few responses does in Step Functions Local.

Step Functions Local never checks a ``Return``; here each is checked against botocore's output shape of the
integration's API before anything runs, in one of the TestState API's field validation modes (STRICT by default).
The parsed test case is moto's own ``MockTestCase``: moto's interpreter already answers mocked states from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
    _parse_mocked_response_range,
)

from byoc_pipelines.asl.arns import result_operation
from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.sagemaker.shapes import FieldValidationMode, result_errors

ENV_VAR: Final = "SFN_MOCK_CONFIG"  # the variable Step Functions Local reads the file's path from


def read(path: str | Path | None = None) -> dict[str, Any]:
    """The mock configuration at ``path``, else at ``$SFN_MOCK_CONFIG``."""
    where = path or os.environ.get(ENV_VAR)
    if not where:
        raise ConfigurationError(f"no mock configuration: give its file, or set {ENV_VAR}")
    try:
        loaded = json.loads(Path(where).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"mock configuration {where}: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("StateMachines"), dict):
        raise ConfigurationError(f"mock configuration {where}: a JSON object with StateMachines is expected")
    return loaded


def case_states(config: Mapping[str, Any], state_machines: Sequence[str], test_case: str) -> dict[str, str]:
    """``{state: response name}`` of ``test_case`` under the first of ``state_machines`` the file names."""
    machines = config["StateMachines"]
    name = next((candidate for candidate in state_machines if candidate in machines), None)
    if name is None:
        known = ", ".join(machines) or "none"
        raise ConfigurationError(f"no state machine {' or '.join(state_machines)} in the file (it has: {known})")
    cases = machines[name].get("TestCases") or {}
    if test_case not in cases:
        raise ConfigurationError(f"no test case {test_case!r} for {name} (it has: {', '.join(cases) or 'none'})")
    return dict(cases[test_case])


def _response(state: str, key: str, entry: Any) -> MockedResponse:
    try:
        start, end = _parse_mocked_response_range(key)
    except RuntimeError as exc:
        raise ConfigurationError(f"{state}: {exc}") from exc
    if not isinstance(entry, dict) or len(entry.keys() & {"Return", "Throw"}) != 1 or len(entry) != 1:
        raise ConfigurationError(f'{state}: response "{key}" needs exactly one of Return or Throw')
    if "Return" in entry:
        return MockedResponseReturn(start, end, entry["Return"])
    thrown = entry["Throw"]
    if not isinstance(thrown, dict) or not thrown.get("Error"):
        raise ConfigurationError(f'{state}: response "{key}" Throw needs an Error')
    return MockedResponseThrow(start, end, str(thrown["Error"]), str(thrown.get("Cause", "")))


def load(config: Mapping[str, Any], state_machines: Sequence[str], test_case: str) -> MockTestCase:
    """Test case ``test_case`` as moto's ``MockTestCase`` (invocations must be numbered 0, 1, ... without gaps)."""
    responses = config.get("MockedResponses") or {}
    states = []
    for state, response_name in case_states(config, state_machines, test_case).items():
        if response_name not in responses:
            raise ConfigurationError(f"{state}: no MockedResponses.{response_name} in the file")
        mocked = [_response(state, key, entry) for key, entry in responses[response_name].items()]
        try:
            states.append(StateMockedResponses(state, response_name, mocked))
        except (RuntimeError, ValueError) as exc:
            raise ConfigurationError(str(exc)) from exc
    return MockTestCase(state_machines[0], test_case, states)


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every state, those of Map item processors and Parallel branches included."""
    for name, state in definition["States"].items():
        yield name, state
        for inner in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if inner:
                yield from _states(inner)


def check_returns(
    case: MockTestCase, definition: Mapping[str, Any], mode: FieldValidationMode = FieldValidationMode.STRICT
) -> list[str]:
    """Every problem of the test case against the definition: unknown or non-Task states, non-conforming Returns."""
    states = dict(_states(definition))
    problems = []
    for name, mocked in case.state_mocked_responses.items():
        state = states.get(name)
        if state is None or state.get("Type") != "Task":
            problems.append(f"{name}: not a Task state of the definition")
            continue
        try:
            service, operation = result_operation(state["Resource"])
        except ValueError as exc:
            problems.append(f"{name}: {exc}; use field validation mode NONE")
            continue
        for index, response in enumerate(mocked.mocked_responses):
            if isinstance(response, MockedResponseReturn) and index == response.range_start:
                where = f"{name}: MockedResponses.{mocked.mocked_response_name}"
                problems += [
                    f"{where}: {problem}" for problem in result_errors(service, operation, response.payload, mode)
                ]
    return problems


def mocked_states(case: MockTestCase | None) -> set[str]:
    return set(case.state_mocked_responses) if case is not None else set()
