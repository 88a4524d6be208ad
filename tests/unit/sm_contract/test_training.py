from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sm_contract.environment import TrainingEnv
from sm_contract.errors import ChannelNotFoundError, DataError, TrainingInterrupted
from sm_contract.paths import MLPaths
from sm_contract.training import StopSignal, run_training, write_failure


def _environ(root: Path) -> dict[str, str]:
    return {"SAGEMAKER_BASE_DIR": str(root)}


def test_success_exits_zero_without_failure_file(fake_opt_ml) -> None:
    root = fake_opt_ml()
    seen: list[TrainingEnv] = []
    assert run_training(lambda env, stop: seen.append(env), _environ(root)) == 0
    assert seen[0].paths.base == root
    assert not (root / "output/failure").exists()


def test_user_error_writes_failure_and_exits_1(fake_opt_ml) -> None:
    root = fake_opt_ml()

    def train(env: TrainingEnv, stop: StopSignal) -> None:
        raise DataError("channel 'train' file 'train.npz' lacks array(s) ['labels']")

    assert run_training(train, _environ(root)) == 1
    assert (root / "output/failure").read_text() == "channel 'train' file 'train.npz' lacks array(s) ['labels']\n"


def test_unexpected_error_exits_2_with_type_in_reason(fake_opt_ml, caplog: pytest.LogCaptureFixture) -> None:
    root = fake_opt_ml()

    def train(env: TrainingEnv, stop: StopSignal) -> None:
        raise ZeroDivisionError("division by zero")

    assert run_training(train, _environ(root)) == 2
    assert (root / "output/failure").read_text().startswith("Unexpected error: ZeroDivisionError: division by zero")
    assert "Traceback" in caplog.text


def test_bad_configuration_is_a_user_error(fake_opt_ml) -> None:
    root = fake_opt_ml()
    (root / "input/config/resourceconfig.json").write_text("[")
    assert run_training(lambda env, stop: None, _environ(root)) == 1
    assert "resourceconfig.json is not valid JSON" in (root / "output/failure").read_text()


def test_missing_channel_names_present_ones(fake_opt_ml) -> None:
    from sm_contract.channels import channel_dir

    root = fake_opt_ml(channels={"training": {"x.csv": b"1"}})
    env = TrainingEnv.from_environ(_environ(root))
    with pytest.raises(
        ChannelNotFoundError, match=r"channel 'train' is required but missing \(channels present: training\)"
    ):
        channel_dir(env, "train")
    assert channel_dir(env, "test", required=False) is None


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """run_training's handlers stay installed when a test's own signal ends the job: put the defaults back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_sigterm_sets_the_stop_signal_and_interrupt_exits_143(fake_opt_ml, signals_restored) -> None:
    root = fake_opt_ml()

    def train(env: TrainingEnv, stop: StopSignal) -> None:
        assert not stop.requested  # the loop polls: from here on a signal only sets the flag
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the handler run_training installed
        assert stop.requested and stop.signum == signal.SIGTERM
        raise TrainingInterrupted("stopped at epoch 2 step 5/10")

    assert run_training(train, _environ(root)) == 143
    assert "stopped at epoch 2 step 5/10" in (root / "output/failure").read_text()


def test_sigterm_during_set_up_ends_the_job_at_once(fake_opt_ml, signals_restored) -> None:
    """Loading data or installing requirements can take minutes before the loop first polls; StopTrainingJob
    kills the job 120 s after SIGTERM, so a signal then must not wait for that work and the first batch."""
    root = fake_opt_ml()
    set_up: list[int] = []

    def train(env: TrainingEnv, stop: StopSignal) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for step in range(200):  # set-up work that never polls, 10 s in all
            set_up.append(step)
            time.sleep(0.05)
        assert not stop.requested

    assert run_training(train, _environ(root)) == 143
    assert len(set_up) <= 1
    assert (
        root / "output/failure"
    ).read_text() == "Training stopped by signal: SIGTERM arrived before training started\n"


def test_failure_reason_is_one_line_within_1024_chars(tmp_path: Path) -> None:
    paths = MLPaths(tmp_path)
    text = write_failure(paths, "first line\nsecond " + "x" * 2000)
    content = paths.failure_file.read_text()
    assert content.count("\n") == 1 and content.startswith("first line second")
    assert len(text) == 1024 and text.endswith("...")


def test_handlers_are_restored_and_an_exit_code_passes_through(fake_opt_ml) -> None:
    root = fake_opt_ml()
    before = signal.getsignal(signal.SIGTERM)
    assert run_training(lambda env, stop: 7, _environ(root)) == 7
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_hyperparameter_of_thousands_of_digits_is_a_user_error(fake_opt_ml) -> None:
    from sm_contract import hyperparameters

    @dataclasses.dataclass(frozen=True)
    class Hps:
        epochs: int = 1

    root = fake_opt_ml({"epochs": "9" * 5000})

    def train(env: TrainingEnv, stop: StopSignal) -> None:
        hyperparameters.parse(Hps, env.hyperparameters)

    assert run_training(train, _environ(root)) == 1
    failure = (root / "output/failure").read_text()
    assert failure.startswith("hyperparameter 'epochs'='99999") and "(5000 characters)" in failure
