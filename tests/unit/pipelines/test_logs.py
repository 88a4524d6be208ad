"""The console of long runs: progress lines stay on it; Python, thread and child-process output goes to the log file."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from byoc_pipelines.logs import Progress, RunLogs, shown

# A run as the demo does it, in a child process so its descriptors 1 and 2 are real ones we can capture.
CHILD = textwrap.dedent(
    """
    import logging, subprocess, sys, threading
    from pathlib import Path
    from byoc_pipelines import logs

    verbose = sys.argv[2] == "verbose"
    with logs.console(None) as console:
        logs.configure("INFO", verbose=verbose, console=console)
        progress, run_logs = logs.Progress(console), logs.RunLogs(Path(sys.argv[1]), verbose=verbose)
        with run_logs.to("stage"):
            progress.step("stage", "started")
            print("sdk print")  # the SDK's sys.stdout.write of container output
            thread = threading.Thread(target=lambda: sys.stdout.write("endpoint thread\\n"))
            thread.start()
            thread.join()
            subprocess.run(["sh", "-c", "echo container stdout; echo container stderr >&2"], check=True)
            logging.getLogger("urllib3.connectionpool").warning("Retrying after NewConnectionError")
            logging.getLogger("byoc_pipelines.local.demo").info("own info")
            logging.getLogger("byoc_pipelines.local.demo").warning("own warning")
            progress.step("stage", "done")
        print("after the block")
    """
)
NOISE = ("sdk print", "endpoint thread", "container stdout", "container stderr", "Retrying", "own info")


def run_child(folder: Path, mode: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", CHILD, str(folder), mode]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_quiet_run_keeps_only_progress_and_own_warnings_on_the_console(tmp_path: Path) -> None:
    done = run_child(tmp_path, "quiet")
    lines = done.stdout.splitlines()
    assert [line.split("] ", 1)[1] for line in lines if line.startswith(">> [")] == ["stage: started", "stage: done"]
    assert "WARNING byoc_pipelines.local.demo: own warning" in lines
    assert lines[-1] == "after the block"  # descriptors are restored after the block
    assert not [text for text in NOISE if text in done.stdout + done.stderr]
    logged = (tmp_path / "stage.log").read_text()
    assert all(text in logged for text in NOISE)
    assert ">> [" not in logged


def test_verbose_run_puts_everything_on_the_console(tmp_path: Path) -> None:
    done = run_child(tmp_path, "verbose")
    assert all(text in done.stdout + done.stderr for text in NOISE)
    assert not (tmp_path / "stage.log").exists()


def test_run_logs_lists_each_file_once(tmp_path: Path) -> None:
    logs = RunLogs(tmp_path)
    for _ in range(2):
        with logs.to("a"):
            pass
    with logs.to("b"):
        pass
    assert logs.files == [tmp_path / "a.log", tmp_path / "b.log"]


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


def test_demo_summary_lists_accuracy_artifacts_pictures_and_logs(tmp_path: Path) -> None:
    from byoc_pipelines.asl.definitions import RENDERED_DIR
    from byoc_pipelines.local import demo

    ticks = iter([0.0, 144.2, 144.2])
    out = io.StringIO()
    logs = RunLogs(tmp_path / "logs")
    logs.files.extend([tmp_path / "logs" / "chainer-mnist.log", tmp_path / "logs" / "keras-text.log"])
    curves = tmp_path / "pictures" / "training_curves.png"
    demo.report(demo.DemoResult(0.977, [], [curves]), Progress(out, clock=lambda: next(ticks)), logs)
    assert out.getvalue().splitlines() == [
        ">> [ 144.2 s] demo: done in 144 s; containers and the local network removed",
        "   chainer-mnist batch transform accuracy: 0.9770",
        "   artifacts:",
        f"     {curves}",
        f"   workflow picture: {shown(RENDERED_DIR / 'chainer-mnist-batch.png')}",
        f"   container and SDK logs: {tmp_path}/logs/chainer-mnist.log, {tmp_path}/logs/keras-text.log",
    ]
