"""T1-T6: ``docker run IMAGE train`` as a training job runs it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from byoc_pipelines.conformance.context import FAILURE_REASON_CHARS, TRAIN_STOP_S, Context, stop_within
from byoc_pipelines.conformance.sandbox import Box, Hosts, write_opt_ml
from byoc_pipelines.local.job_files import Mount

SHELL_PREFIXES = (("/bin/sh", "-c"), ("sh", "-c"), ("/bin/bash", "-c"), ("bash", "-c"))
SINGLE_HOST = Hosts()
OUTPUT_WAIT_S = 120.0  # for the first log line of the job to be stopped


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def check_image_config(ctx: Context, config: Mapping[str, Any]) -> None:
    """T1.args and T1.cmd from the image's configuration (Entrypoint, Cmd)."""
    entrypoint = list(config.get("Entrypoint") or [])
    cmd = list(config.get("Cmd") or [])
    if tuple(entrypoint[:2]) in SHELL_PREFIXES:
        ctx.rec.failed(
            "T1.args",
            f"ENTRYPOINT {entrypoint}",
            "a shell-form ENTRYPOINT: `train` becomes the shell's $0, not the program's argument, "
            "and the shell is PID 1",
        )
    else:
        shown = f"ENTRYPOINT {entrypoint}" if entrypoint else "no ENTRYPOINT (`train`, `serve` run from PATH)"
        ctx.rec.passed("T1.args", shown)
    if cmd == ["train"]:
        ctx.rec.passed("T1.cmd", 'CMD ["train"]')
    else:
        ctx.rec.failed(
            "T1.cmd", f"CMD {cmd}" if cmd else "no CMD", 'add CMD ["train"]: ModelTrainer local mode passes no argument'
        )


def _job(
    ctx: Context, name: str, hps: Mapping[str, str], channels: Mapping[str, Path | None], hosts: Hosts
) -> tuple[Path, list[Mount]]:
    root = ctx.folder / name
    mounts = write_opt_ml(root, hps, channels, hosts)
    return root, [Mount(root.resolve(), "/opt/ml", read_only=False), *mounts]


def _train(
    ctx: Context,
    name: str,
    hps: Mapping[str, str],
    channels: Mapping[str, Path | None],
    hosts: Hosts = SINGLE_HOST,
    start: bool = True,
) -> tuple[Path, Box]:
    """A training container with its own /opt/ml, the job's environment, started unless ``start`` is False."""
    root, mounts = _job(ctx, name, hps, channels, hosts)
    job = f"conformance-{ctx.sandbox.run_id}"
    env = {"TRAINING_JOB_NAME": job, "TRAINING_JOB_ARN": f"arn:aws:sagemaker:local:000000000000:training-job/{job}"}
    box = ctx.sandbox.create(name, ["train"], mounts=mounts, environment=env, hostname=hosts.current)
    if start:
        box.start()
    return root, box


def _model_listing(model_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file())


def success(ctx: Context) -> Path | None:
    """T2.success and T4: a smoke job; returns its model folder when there is a model to serve."""
    started = time.monotonic()
    root, box = _train(ctx, "train", ctx.inputs.hyperparameters, ctx.inputs.channels)
    try:
        code = box.wait(ctx.options.train_timeout_s)
        seconds = time.monotonic() - started
        if code is None:
            ctx.rec.failed("T2.success", f"still running after {seconds:.0f} s", "the smoke job did not finish")
            ctx.rec.skipped("T4", "the smoke job did not finish")
            return None
        failure = root / "output" / "failure"
        reason = failure.read_text(errors="replace")[:300] if failure.is_file() else _tail(box.logs())
        if code != 0 and ctx.inputs.generic:
            ctx.rec.skipped(
                "T2.success",
                f"the job failed (exit {code}) on the suite's generic input (an empty 'train' channel); "
                f"give a descriptor or --channel: {reason}",
            )
            ctx.rec.skipped("T4", "needs a successful job")
            return None
        ctx.rec.verdict(
            "T2.success", code == 0, f"exit {code} in {seconds:.1f} s", "" if code == 0 else reason, seconds
        )
        if code != 0:
            ctx.rec.skipped("T4", "needs a successful job")
            return None
        return _check_model(ctx, root / "model")
    finally:
        ctx.sandbox.remove(box)


def _check_model(ctx: Context, model_dir: Path) -> Path | None:
    files = _model_listing(model_dir)
    missing = [f for f in ctx.inputs.model_files if f not in files]
    shown = ", ".join(files[:6]) + (f" (+{len(files) - 6})" if len(files) > 6 else "")
    if not files:
        ctx.rec.failed("T4", "/opt/ml/model is empty", "a job must leave its model in /opt/ml/model")
        return None
    if missing:
        ctx.rec.failed("T4", shown, f"missing from /opt/ml/model: {', '.join(missing)}")
        return model_dir
    detail = "string hyperparameters " + ", ".join(f"{k}={v}" for k, v in ctx.inputs.hyperparameters.items())
    ctx.rec.passed("T4", f"{len(files)} file(s): {shown}", detail)
    return model_dir


def failure(ctx: Context) -> None:
    """T2.failure and T3: a job the trainer must refuse."""
    root, box = _train(ctx, "fail", ctx.inputs.failing_hyperparameters, ctx.inputs.failing_channels)
    try:
        code = box.wait(ctx.options.train_timeout_s)
        given = ", ".join(f"{k}={v}" for k, v in ctx.inputs.failing_hyperparameters.items())
        if code == 0 and ctx.inputs.generic:
            reason = (
                "the job exited 0 on the suite's failing input (no channel, an unknown hyperparameter); "
                "declare `failing` hyperparameters in a descriptor"
            )
            ctx.rec.skipped("T2.failure", reason)
            ctx.rec.skipped("T3", reason)
            return
        ctx.rec.verdict("T2.failure", code not in (0, None), f"exit {code}", f"hyperparameters {given}")
        if code in (0, None):
            ctx.rec.skipped("T3", "needs a failed job")
            return
        _check_failure_file(ctx, root / "output" / "failure")
    finally:
        ctx.sandbox.remove(box)


def _check_failure_file(ctx: Context, path: Path) -> None:
    if not path.is_file() or not path.read_text(errors="replace").strip():
        ctx.rec.failed(
            "T3",
            "no /opt/ml/output/failure" if not path.is_file() else "empty failure file",
            "FailureReason stays empty",
        )
        return
    text = path.read_text(errors="replace")
    first_line = text.strip().splitlines()[0][:100]
    measured = f"{len(text)} characters: {first_line}"
    wanted = ctx.inputs.failure_reason
    if wanted is None:
        ctx.rec.passed("T3", measured)
        return
    at = text.lower().find(wanted.lower())
    if 0 <= at < FAILURE_REASON_CHARS - len(wanted):
        ctx.rec.passed("T3", measured, f"names {wanted!r} at character {at}")
    else:
        where = "after the first 1024 characters" if at >= 0 else "nowhere"
        ctx.rec.failed("T3", measured, f"the reason names {wanted!r} {where}")


def stop(ctx: Context) -> None:
    """T1.pid1 and T5: a long job, SIGTERM after its first log line, the time until it exits."""
    _, box = _train(ctx, "stop", ctx.inputs.long_hyperparameters, ctx.inputs.channels)
    try:
        if not box.wait_for_output(OUTPUT_WAIT_S):
            code = box.exit_code()
            reason = (
                f"the job ended (exit {code}) before it could be stopped"
                if code is not None
                else "the job wrote nothing within 120 s"
            )
            ctx.rec.skipped("T1.pid1", reason)
            ctx.rec.skipped("T5", reason + ("; give `long` hyperparameters" if ctx.inputs.generic else ""))
            return
        _check_init(ctx, box)
        if box.exit_code() is not None:
            ctx.rec.skipped("T5", f"the job ended (exit {box.exit_code()}) before SIGTERM; give `long` hyperparameters")
            return
        stop_within(ctx, "T5", box, TRAIN_STOP_S)
    finally:
        ctx.sandbox.remove(box)


def _check_init(ctx: Context, box: Box) -> None:
    try:
        init = box.init_process()
    except OSError as exc:
        code = box.exit_code()
        ended = f"the job ended (exit {code}) before its PID 1 could be read"
        elsewhere = f"cannot read the container's PID 1 here ({exc}); the Docker daemon must run on this machine"
        ctx.rec.skipped("T1.pid1", ended if code is not None else elsewhere)
        return
    if init.is_shell and init.children:
        ctx.rec.failed(
            "T1.pid1",
            f"PID 1: {init.command()}",
            "a shell waits on the program: SIGTERM reaches the shell, which ignores it as PID 1",
        )
    else:
        ctx.rec.passed("T1.pid1", f"PID 1: {init.command()}")


def two_hosts(ctx: Context) -> None:
    """T6: the smoke job on algo-1 and algo-2, each with its own resourceconfig.json, on the run's network."""
    descriptor = ctx.inputs.descriptor
    if descriptor is not None and descriptor.multi_host == "none":
        ctx.rec.skipped("T6", "the descriptor says the image trains on one host (multi_host = none)")
        return
    hosts = ("algo-1", "algo-2")
    started = time.monotonic()
    boxes = [
        _train(ctx, host, ctx.inputs.hyperparameters, ctx.inputs.channels, Hosts(hosts, host), False)[1]
        for host in hosts
    ]
    try:
        for box in boxes:  # created first, then started together, as SageMaker starts a cluster
            box.start()
        codes = [box.wait(ctx.options.train_timeout_s) for box in boxes]
        seconds = time.monotonic() - started
        measured = ", ".join(f"{h}: exit {c}" for h, c in zip(hosts, codes, strict=True)) + f" in {seconds:.1f} s"
        bad = [f"{box.name}: {_tail(box.logs(), 2)}" for box, code in zip(boxes, codes, strict=True) if code != 0]
        if bad and ctx.inputs.generic:
            ctx.rec.skipped("T6", f"{measured} on the suite's generic input, which proves nothing; give a descriptor")
            return
        ctx.rec.verdict("T6", not bad, measured, "; ".join(bad), seconds)
    finally:
        for box in boxes:
            ctx.sandbox.remove(box)
