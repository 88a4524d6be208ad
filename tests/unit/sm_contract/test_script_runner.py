"""Script mode end to end on one host: the user's script as a child process, its environment, exit and failure."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from sm_contract.environment import TrainingEnv
from sm_contract.script_mode import Framework, script_env
from sm_contract.script_mode.runner import run_user_script
from sm_contract.training import StopSignal, run_training
from utils.data import write_opt_ml
from utils.waiting import wait_until

FRAMEWORK = Framework(name="test", multi_host="mpi", builtin_module="unused")


class StopWhen(StopSignal):
    """A stop request (as SIGTERM makes one) once ``path`` exists: the script creates it when it is ready."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    @property
    def requested(self) -> bool:
        return self.path.exists()


def _ended(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _job(tmp_path: Path, script: str, hyperparameters: dict[str, str] | None = None) -> TrainingEnv:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(textwrap.dedent(script))
    hps = {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code), **(hyperparameters or {})}
    root = write_opt_ml(tmp_path / "opt_ml", hps, {"train": {"x.csv": b"1"}})
    return TrainingEnv.from_environ({**os.environ, "SAGEMAKER_BASE_DIR": str(root), "SCRIPT_STOP_GRACE_SECONDS": "1"})


def test_the_script_gets_the_toolkits_arguments_and_environment(tmp_path: Path) -> None:
    env = _job(
        tmp_path,
        """
        import json, os, sys
        seen = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
                "cwd": os.getcwd(), "path": os.environ.get("PYTHONPATH", "")}
        os.makedirs(os.environ["SM_MODEL_DIR"], exist_ok=True)
        open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "seen.json"), "w").write(json.dumps(seen))
        """,
        {"epochs": "3", "lr": "0.1", "note": "two words"},
    )
    env.paths.output_data_dir.mkdir(parents=True)
    assert run_user_script(env, StopSignal(), FRAMEWORK) == 0
    seen = json.loads((env.paths.output_data_dir / "seen.json").read_text())
    assert seen["argv"] == ["--epochs", "3", "--lr", "0.1", "--note", "two words"]
    expected = script_env.env_vars(script_env.training_env(env))
    assert seen["env"] == expected
    assert seen["cwd"] == str(tmp_path / "code") and seen["path"].startswith(str(tmp_path / "code"))


def test_a_failing_script_keeps_its_exit_code_and_names_its_error(tmp_path: Path) -> None:
    env = _job(tmp_path, "import sys\nprint('loading', file=sys.stderr)\nraise ValueError('bad shape (3,)')\n")
    root = env.paths.base
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGEMAKER_BASE_DIR", str(root))
        code = run_training(lambda e, stop: run_user_script(e, stop, FRAMEWORK))
    assert code == 1
    assert (root / "output/failure").read_text() == "train.py exited 1: ValueError: bad shape (3,)\n"


def test_a_reason_the_script_wrote_itself_is_kept(tmp_path: Path) -> None:
    env = _job(
        tmp_path,
        """
        import os, sys
        open("/".join([os.environ["SM_OUTPUT_DIR"], "failure"]), "w").write("my own reason: disk quota\\n")
        sys.exit(4)
        """,
    )
    env.paths.output_dir.mkdir(parents=True, exist_ok=True)
    assert run_user_script(env, StopSignal(), FRAMEWORK) == 4
    assert env.paths.failure_file.read_text() == "my own reason: disk quota\n"


def test_sigterm_reaches_the_script_and_its_children(tmp_path: Path) -> None:
    ready, got = tmp_path / "ready", tmp_path / "got-sigterm"
    env = _job(
        tmp_path,
        f"""
        import signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("{tmp_path}/child.pid", "w").write(str(child.pid))
        def stop(signum, frame):
            open("{got}", "w").write("yes")
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
        open("{ready}", "w").write("ready")
        time.sleep(60)
        """,
    )
    assert run_user_script(env, StopWhen(ready), FRAMEWORK) == 3  # its own exit code: its handler ran
    assert got.read_text() == "yes"
    child = int((tmp_path / "child.pid").read_text())
    # The script's own child got the signal too (same process group): gone, or a zombie awaiting its reaper.
    wait_until(lambda: _ended(child), timeout_s=5, what=f"process {child} ended")
    assert env.paths.failure_file.read_text() == "train.py stopped by signal (exit 3)\n"


def test_a_script_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    env = _job(
        tmp_path,
        f"""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("{ready}", "w").write("ready")
        time.sleep(60)
        """,
    )
    started = time.monotonic()
    assert run_user_script(env, StopWhen(ready), FRAMEWORK) == 137  # 128 + SIGKILL, long before its sleep ends
    assert time.monotonic() - started >= 1.0  # not before the grace period (SCRIPT_STOP_GRACE_SECONDS=1)


def test_a_program_outside_the_code_folder_is_refused(tmp_path: Path) -> None:
    env = _job(tmp_path, "", {"sagemaker_program": "../../etc/passwd"})
    with pytest.raises(Exception, match="points outside the code folder"):
        run_user_script(env, StopSignal(), FRAMEWORK)
