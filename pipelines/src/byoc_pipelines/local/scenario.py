"""What a local run injects into a definition: mocked states, real faults, managed spot, compressed retry waits.

:func:`scenario` builds one from the command line's files and flags (``--mock-config`` or ``$SFN_MOCK_CONFIG``,
``--fault-config``, ``--test-case``, ``--fault``) and checks it against the definition before anything runs:
mocked ``Return`` values against botocore's output shapes, faults against the states they name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.mocking.mock_config import MockTestCase

from byoc_pipelines.errors import ConfigurationError
from byoc_pipelines.history import states_of
from byoc_pipelines.local import mocks
from byoc_pipelines.local.faults import FaultPlan
from byoc_pipelines.sagemaker.shapes import FieldValidationMode


@dataclass(frozen=True)
class Scenario:
    mocks: MockTestCase | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    spot: bool = False  # managed spot training in the execution input
    retry_wait_scale: float = 1.0  # 0.01: a Retry's 5 s wait lasts 50 ms

    @property
    def mocked(self) -> set[str]:
        return mocks.mocked_states(self.mocks)


def scenario(
    definition: Mapping[str, Any],
    state_machines: Sequence[str],
    *,
    mock_config: str | Path | None = None,
    fault_config: str | Path | None = None,
    test_case: str | None = None,
    fault_flags: Sequence[str] = (),
    mode: FieldValidationMode = FieldValidationMode.STRICT,
    spot: bool = False,
    retry_wait_scale: float = 1.0,
) -> Scenario:
    """The scenario of a run of ``definition`` (deployed as one of ``state_machines``), checked against it."""
    mock_config = mock_config or os.environ.get(mocks.ENV_VAR) or None
    if (mock_config or fault_config) and not test_case:
        raise ConfigurationError("a mock or fault configuration needs --test-case NAME")
    case = mocks.load(mocks.read(mock_config), state_machines, str(test_case)) if mock_config else None
    faults = FaultPlan()
    if fault_config:
        faults = FaultPlan.from_config(mocks.read(fault_config), state_machines, str(test_case))
    faults = faults.merged(FaultPlan.from_flags(fault_flags))
    problems = mocks.check_returns(case, definition, mode) if case is not None else []
    tasks = {
        name: str(state.get("Resource", "")) for name, state in states_of(definition).items() if "Resource" in state
    }
    problems += faults.problems(tasks)
    both = faults.states() & mocks.mocked_states(case)
    problems += [f"{state}: mocked and faulted at once (a mocked state runs nothing)" for state in sorted(both)]
    if problems:
        raise ConfigurationError("; ".join(problems))
    return Scenario(case, faults, spot, retry_wait_scale)
