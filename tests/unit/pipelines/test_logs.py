"""Progress lines on the console and the paths they show."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from byoc_pipelines.logs import Progress, shown


def test_progress_lines_carry_the_elapsed_time() -> None:
    ticks = iter([100.0, 112.34, 200.0])
    out = io.StringIO()
    progress = Progress(out, clock=lambda: next(ticks))
    progress.step("chainer-mnist", "training job Completed")
    progress.detail("#3 TaskSucceeded")
    assert progress.elapsed_s == 100.0
    assert out.getvalue() == ">> [  12.3 s] chainer-mnist: training job Completed\n   #3 TaskSucceeded\n"


def test_shown_paths_are_relative_under_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "build" / "x.log") == "build/x.log"
    assert shown(Path("/elsewhere/y")) == "/elsewhere/y"
