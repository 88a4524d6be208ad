"""A fresh start, timed: a bare clone's ``make demo``, then ``make check`` and ``make test`` in the same clone.

What a new user does on a new machine, with the project's own files installing everything: the clock of each step is
the wall clock of its ``make`` command, whose log goes to a file next to the result. Before the first step the result
records what the machine already had (a Docker daemon, its images, pip's and uv's caches): a run that starts from a
machine with Docker's daemon running or caches filled measures less than a new user waits, and says so.

Runs with the standard library only (no venv exists yet), from any checkout:

    python3 bench/fresh_start.py                      # clone this checkout's HEAD into /tmp, demo, check x2, test
    python3 bench/fresh_start.py --steps demo         # the first command only

``make check`` runs twice: the first run installs what the demo did not need (two venvs, the chiVe table), the
second is the one its target is about, with the venvs in place. Refuses to run when the 1-minute load is above 1.0
(or ``--allow-noisy``, the result marked noisy).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import results

ROOT = Path(__file__).resolve().parents[1]
# The limits: a bare clone's demo in 10 minutes, lint and the tests without Docker in 3 once the venvs exist,
# every test in 25 minutes after the demo.
LIMITS_S = {"demo": 600.0, "check": 180.0, "test": 1500.0}
CACHES = {"uv": Path.home() / ".cache" / "uv", "pip": Path.home() / ".cache" / "pip"}


def _size_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    done = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True)
    return round(int(done.stdout.split()[0]) / 1024, 1) if done.returncode == 0 and done.stdout else 0.0


def machine_before() -> dict[str, Any]:
    """What was already here: the Docker daemon and its images, the installers' caches."""
    docker = shutil.which("docker")
    daemon = subprocess.run([docker, "info", "-f", "{{.Images}}"], capture_output=True, text=True) if docker else None
    running = daemon is not None and daemon.returncode == 0
    images = daemon.stdout.strip() if running and daemon is not None else ""
    return {
        "dockerd_installed": shutil.which("dockerd") is not None,
        "dockerd_running": running,
        "docker_images": int(images) if images.isdigit() else 0,
        "cache_mb": {name: _size_mb(path) for name, path in CACHES.items()},
    }


def run_step(clone: Path, target: str, log: Path) -> dict[str, Any]:
    print(f">> make {target} (log: {log})", flush=True)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(["make", target], cwd=clone, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = round(time.monotonic() - started, 1)
    print(f"   make {target}: {seconds} s, exit {done.returncode}", flush=True)
    return {"target": target, "seconds": seconds, "returncode": done.returncode, "log": str(log)}


def targets(steps: list[dict[str, Any]]) -> list[results.Target]:
    def seconds(target: str, which: int) -> float | None:
        runs = [s for s in steps if s["target"] == target and s["returncode"] == 0]
        return runs[which]["seconds"] if runs else None

    checks = [s for s in steps if s["target"] == "check"]
    check_note = "the second run, with the venvs in place" if len(checks) > 1 else ""
    return [
        results.Target("a bare clone's make demo", seconds("demo", 0), "<=", LIMITS_S["demo"], "s", "set-up included"),
        results.Target("make check, venvs in place", seconds("check", -1), "<=", LIMITS_S["check"], "s", check_note),
        results.Target("make test after make demo", seconds("test", 0), "<=", LIMITS_S["test"], "s"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=str(ROOT), help="what to clone (default: this checkout; its HEAD)")
    parser.add_argument("--workdir", type=Path, help="where the clone goes (default: a new folder under /tmp)")
    parser.add_argument("--steps", default="demo,check,check,test", help="make targets in order (%(default)s)")
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "fresh_start.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    run = results.Run("fresh_start", allow_noisy=args.allow_noisy)

    before = machine_before()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="byoc-fresh-"))
    clone = workdir / "repo"
    subprocess.run(["git", "clone", "--quiet", args.repo, str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True)
    steps: list[dict[str, Any]] = []
    for index, target in enumerate(args.steps.split(",")):
        steps.append(run_step(clone, target, workdir / f"{index}-{target}.log"))
        run.sample_load()
        if steps[-1]["returncode"] != 0:
            print(f"make {target} failed: see {steps[-1]['log']}", file=sys.stderr)
            break
    payload = {"commit": commit.stdout.strip(), "clone": str(clone), "machine_before": before, "steps": steps}
    record = run.record(payload, targets(steps))
    results.write(record, args.out)
    return 0 if all(s["returncode"] == 0 for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
