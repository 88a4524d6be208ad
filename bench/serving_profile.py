"""Where chainer-mnist's server spends CPU beyond the handler: ablations on scratch copies, and py-spy.

Each variant of :mod:`serving_patches` (a log line per request, every request handed to the model thread,
/invocations routed through Starlette) runs as its own container of the same image, interleaved with the
unchanged server and the in-process handler, at each --concurrency; the result is CPU time per single-image
request from the container's cgroup, and its ratio to the in-process CPU time of the same round. With --py-spy
(a py-spy binary, e.g. from ``make bench/tools``), one worker of the unchanged server is sampled under load and
the samples are summed per function (inclusive) and per leaf (self).

    .venv/chainer-mnist/bin/python bench/serving_profile.py --image byoc/chainer-mnist:bench \
        --py-spy .venv/bench-tools/bin/py-spy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import serving_patches
from chainer_reference import InProcess
from harness import containers as hc
from harness import load, models, pyspy, results, rounds

JSON = "application/json"
KEYS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")


def start_variants(args: argparse.Namespace, cs: hc.Containers, model_dir: Path, tmp: Path) -> tuple[dict, dict]:
    servers, notes = {}, {}
    for patch in serving_patches.PATCHES if args.rounds else serving_patches.PATCHES[:1]:
        try:
            source = serving_patches.original(args.image, patch) if patch.replacements else ""
            patched = serving_patches.write(patch, source, tmp)
        except LookupError as exc:
            notes[patch.name] = f"skipped: {exc}"
            continue
        volumes = {str(model_dir): "/opt/ml/model"} | ({str(patched): patch.installed} if patched else {})
        env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers), **dict(patch.environment)}
        servers[patch.name] = hc.start(cs, hc.ServerSpec(args.image, volumes=volumes, environment=env))
        notes[patch.name] = patch.what
    return servers, notes


def bench(args: argparse.Namespace, cs: hc.Containers, tmp: Path) -> dict[str, Any]:
    model_dir = args.model_dir or models.chainer_model(cs, args.image, args.data)
    with np.load(args.data / "test/test.npz") as npz:
        body = json.dumps({"instances": [npz["images"].reshape(-1, 784)[0].tolist()]}).encode()
    (tmp / "single.json").write_bytes(body)
    lua = load.write_script(tmp, "single", [load.Request(tmp / "single.json", JSON)])
    servers, notes = start_variants(args, cs, model_dir, tmp)
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    inproc = InProcess(cs, args.image, model_dir, tmp, args.workers, threads)
    out: dict[str, Any] = {"variants": notes} if args.rounds else {}
    for c in args.concurrency if args.rounds else []:
        print(f">> concurrency {c}", flush=True)
        contenders = {"inprocess": lambda c=c: inproc.single(tmp / "single.json", c, args.duration, args.warmup)}
        contenders |= load.server_contenders(servers, lua, c, args.warmup, args.duration)
        runs = rounds.interleave(contenders, args.rounds)
        row = {name: rounds.summary(r, KEYS) for name, r in runs.items()}
        row["cpu_vs_inprocess"] = {
            name: rounds.paired_ratio(runs[name], runs["inprocess"], "cpu_ms_per_request") for name in servers
        }
        out[f"c{c}"] = row
    if args.py_spy:
        with results.stage("py-spy"):
            spy = pyspy.record(
                args.py_spy, servers["as-is"], lua, args.spy_seconds, tmp / "spy.txt", pyspy.CHAINER_HANDLER
            )
            out["py_spy_c16"] = spy
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
    parser.add_argument("--rounds", type=int, default=3, help="0: py-spy only, the file's ablation rounds kept")
    parser.add_argument("--py-spy", help="path of a py-spy binary: also sample one worker")
    parser.add_argument("--spy-seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "chainer_serving_profile.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    run = results.Run("chainer_serving_profile", args.allow_noisy)
    with hc.Containers(run.bench) as cs, tempfile.TemporaryDirectory(prefix="serving_profile_") as tmp:
        payload = bench(args, cs, Path(tmp))
    if args.rounds == 0 and args.out.is_file():  # a py-spy pass only: keep the ablation rounds of the last run
        kept = json.loads(args.out.read_text())
        payload = {
            k: v for k, v in kept.items() if (k.startswith("c") and k[1:].isdigit()) or k == "variants"
        } | payload
        payload["rounds_command"] = kept.get("rounds_command", kept.get("command"))
    results.write(run.record(payload, [], {"ours": args.image}), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
