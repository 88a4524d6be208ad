"""Where chainer-mnist's server spends CPU beyond the handler: ablations on scratch copies, and py-spy.

Each variant of :mod:`serving_patches` (the request log off, the thread hop removed, the disconnect check
removed, the Gate bypassed) runs as its own container of the same image, interleaved with the unchanged server
and the in-process handler, at each --concurrency; the result is CPU time per single-image request from the
container's cgroup, and its ratio to the in-process CPU time of the same round. With --py-spy (a py-spy
binary, e.g. from ``make bench-tools``), one worker of the unchanged server is sampled under load and the
samples are summed per function (inclusive) and per leaf (self).

    .venv/chainer-mnist/bin/python bench/serving_profile.py --image byoc/chainer-mnist:bench \
        --py-spy .venv/bench-tools/bin/py-spy
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

import serving_patches
from chainer_reference import InProcess
from harness import containers as hc
from harness import load, models, results, rounds

JSON = "application/json"
KEYS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")


def measure(server: hc.Server, lua: Path, c: int, args: argparse.Namespace) -> dict[str, Any]:
    url = f"{server.url}/invocations"
    load.run(url, lua, c, args.warmup)
    before = server.cpu_seconds()
    run = load.run(url, lua, c, args.duration)
    run["cpu_ms_per_request"] = round((server.cpu_seconds() - before) * 1e3 / run["requests"], 4)
    return run


def start_variants(args: argparse.Namespace, cs: hc.Containers, model_dir: Path, tmp: Path) -> tuple[dict, dict]:
    source = serving_patches.original(args.image)
    servers, notes = {}, {}
    for patch in serving_patches.PATCHES:
        try:
            patched = serving_patches.write(patch, source, tmp)
        except LookupError as exc:
            notes[patch.name] = f"skipped: {exc}"
            continue
        volumes = {str(model_dir): "/opt/ml/model"} | ({str(patched): serving_patches.INSTALLED} if patched else {})
        env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers), **dict(patch.environment)}
        servers[patch.name] = hc.start(cs, hc.ServerSpec(args.image, volumes=volumes, environment=env))
        notes[patch.name] = patch.what
    return servers, notes


def py_spy(binary: str, server: hc.Server, lua: Path, seconds: float, out: Path) -> dict[str, Any]:
    """Samples of one worker of ``server`` while wrk loads it at concurrency 16."""
    top = server.container.top(ps_args="-o pid,ppid,args")
    rows = [dict(zip(top["Titles"], p, strict=False)) for p in top["Processes"]]
    parent = min(rows, key=lambda r: int(r["PID"]))["PID"]
    worker = next(r["PID"] for r in rows if r["PPID"] == parent and "resource_tracker" not in r["COMMAND"])
    loader = threading.Thread(target=load.run, args=(f"{server.url}/invocations", lua, 16, seconds + 4))
    loader.start()
    cmd = [binary, "record", "--pid", str(worker), "--duration", str(int(seconds)), "--rate", "250"]
    subprocess.run([*cmd, "--nonblocking", "--format", "raw", "--output", str(out)], capture_output=True, check=True)
    loader.join()
    return summarize(out.read_text())


def summarize(raw: str, top_n: int = 25) -> dict[str, Any]:
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if f]
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            leaf[frames[-1]] += n

    def share(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[frame, round(n / total, 4)] for frame, n in counter.most_common(top_n)]

    return {"samples": total, "inclusive": share(inclusive), "self": share(leaf)}


def bench(args: argparse.Namespace, cs: hc.Containers, tmp: Path) -> dict[str, Any]:
    model_dir = args.model_dir or models.chainer_model(cs, args.image, args.data)
    with np.load(args.data / "test/test.npz") as npz:
        body = json.dumps({"instances": [npz["images"].reshape(-1, 784)[0].tolist()]}).encode()
    (tmp / "single.json").write_bytes(body)
    lua = load.write_script(tmp, "single", [load.Request(tmp / "single.json", JSON)])
    servers, notes = start_variants(args, cs, model_dir, tmp)
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    inproc = InProcess(cs, args.image, model_dir, tmp, args.workers, threads)
    out: dict[str, Any] = {"variants": notes}
    for c in args.concurrency:
        print(f">> concurrency {c}", flush=True)
        contenders = {"inprocess": lambda c=c: inproc.single(tmp / "single.json", c, args.duration, args.warmup)}
        contenders |= {name: lambda s=s, c=c: measure(s, lua, c, args) for name, s in servers.items()}
        runs = rounds.interleave(contenders, args.rounds)
        row = {name: rounds.summary(r, KEYS) for name, r in runs.items()}
        row["cpu_vs_inprocess"] = {
            name: rounds.paired_ratio(runs[name], runs["inprocess"], "cpu_ms_per_request") for name in servers
        }
        out[f"c{c}"] = row
    if args.py_spy:
        with results.stage("py-spy"):
            out["py_spy_c16"] = py_spy(args.py_spy, servers["as-is"], lua, args.spy_seconds, tmp / "spy.txt")
    return out | {"settings": {"workers": args.workers, "duration_s": args.duration, "rounds": args.rounds}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="byoc/chainer-mnist:bench")
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 1])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--py-spy", help="path of a py-spy binary: also sample one worker")
    parser.add_argument("--spy-seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "chainer_serving_profile.json")
    args = parser.parse_args(argv)
    run = results.Run("chainer_serving_profile")
    with hc.Containers(run.bench) as cs, tempfile.TemporaryDirectory(prefix="serving_profile_") as tmp:
        payload = bench(args, cs, Path(tmp))
    results.write(run.record(payload, [], {"ours": args.image}), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
