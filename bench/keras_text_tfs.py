"""keras-text: the TF Serving-contract path against the built-in path, on the same model, same server.

The image trains a model (cached, :mod:`harness.models`) and writes it in TF Serving's layout with its own
``code/inference.py``. Two servers of that one model, each with the default workers:

* tfs: ``docker run IMAGE serve``, what the image runs for any TF Serving ``model.tar.gz``: ``input_handler``
  of ``code/inference.py`` -> TF Serving's REST ``:predict`` in process -> ``output_handler``;
* builtin: the same image and server with ``TextHandler`` (bench/apps/keras_text_builtin.py) as the handler,
  which calls the model's parsing and formatting functions and its SavedModel's function directly.

Single ``{"q": text}`` requests come from wrk (keep-alive, one thread) at each --concurrency, the two servers
interleaved for --rounds rounds (p50, p99, requests/s, CPU time per request from the container's cgroup); cold
starts are bench/cold_start.py's. At concurrency 1 a third contender joins the rounds: the same model in process
in the same image (bench/apps/keras_text_inprocess.py), its ``serving_default`` ``tf.function`` alone and the
whole handler, with no HTTP. The keras-text single-query targets are the tfs path at concurrency 1, the image's
default: p50 <= 5 ms, and <= 1.5x the in-process ``tf.function`` p50 of the same round.

    .venv/chainer-mnist/bin/python bench/keras_text_tfs.py --image byoc/keras-text:bench
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from harness import containers as hc
from harness import load, models, pyspy, results, rounds

HERE = Path(__file__).resolve().parent
TARGET_P50_MS = 5.0
TARGET_P50_VS_FUNCTION = 1.5
INPROCESS = "/opt/bench_apps/keras_text_inprocess.py"
KEYS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")
BOOT = "import sys; from sm_contract import server; sys.exit(server.serve('keras_text_builtin:app'))"


def specs(image: str, model_dir: Path) -> dict[str, hc.ServerSpec]:
    volumes = {str(model_dir): "/opt/ml/model"}
    builtin_env = {"PYTHONPATH": "/opt/bench_apps", "TF_USE_LEGACY_KERAS": "0"}  # as the image's `serve` sets it
    return {
        "tfs": hc.ServerSpec(image, volumes=volumes),
        "builtin": hc.ServerSpec(
            image,
            ["python3", "-c", BOOT],
            volumes=volumes | {str(HERE / "apps"): "/opt/bench_apps"},
            environment=builtin_env,
        ),
    }


def inprocess(cs: hc.Containers, args: argparse.Namespace, model_dir: Path) -> Callable[[], dict[str, Any]]:
    """One round of the in-process contender: a fresh ``docker exec`` that loads the model and times it."""
    agent = hc.Agent(cs, args.image, {str(HERE / "apps"): "/opt/bench_apps", str(model_dir): "/opt/ml/model"})
    environment = {"PYTHONPATH": "/opt/bench_apps", "TF_USE_LEGACY_KERAS": "0"}
    command = [
        "python3",
        INPROCESS,
        "--text",
        args.text,
        "--seconds",
        f"{args.duration:g}",
        "--warmup",
        f"{args.warmup:g}",
    ]

    def measure() -> dict[str, Any]:
        found = agent.run_json(command, environment)
        return {"p50_ms": found["function"]["p50_ms"], "p99_ms": found["function"]["p99_ms"]} | {
            f"handler_{key}": found["handler"][key] for key in ("p50_ms", "p99_ms")
        }

    return measure


def bench(args: argparse.Namespace, cs: hc.Containers, tmp: Path) -> dict[str, Any]:
    model_dir = args.model_dir or models.keras_model(cs, args.image, args.knbc, args.epochs)
    servers_spec = specs(args.image, model_dir)
    body = json.dumps({"q": args.text}, ensure_ascii=False).encode()
    (tmp / "q.json").write_bytes(body)
    lua = load.write_script(tmp, "q", [load.Request(tmp / "q.json", "application/json")])
    servers = {name: hc.start(cs, spec) for name, spec in servers_spec.items()}
    answers = {name: requests.post(f"{s.url}/invocations", data=body, timeout=30).json() for name, s in servers.items()}
    if answers["tfs"] != answers["builtin"]:
        raise RuntimeError(f"the two paths answer differently: {answers}")
    out: dict[str, Any] = {"answer": answers["tfs"]}
    for c in args.concurrency if args.rounds else []:
        print(f">> concurrency {c}", flush=True)
        contenders = load.server_contenders(servers, lua, c, args.warmup, args.duration)
        if c == 1:
            contenders["inprocess"] = inprocess(cs, args, model_dir)
        runs = rounds.interleave(contenders, args.rounds)
        row = {name: rounds.summary(r, KEYS) | {"runs": r} for name, r in runs.items()}
        row["ratios_tfs_vs_builtin"] = {key: rounds.paired_ratio(runs["tfs"], runs["builtin"], key) for key in KEYS}
        if "inprocess" in runs:
            row["inprocess"] |= rounds.summary(runs["inprocess"], ("handler_p50_ms", "handler_p99_ms"))
            row["ratio_tfs_p50_vs_function"] = rounds.paired_ratio(runs["tfs"], runs["inprocess"], "p50_ms")
        out[f"c{c}"] = row
    if args.py_spy:
        out["py_spy_c1"] = {name: spy(args, s, lua, tmp) for name, s in servers.items()}
    settings = {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds, "text": args.text}
    return out | {"settings": settings | {"model_dir": results.shown(model_dir)}}


def spy(args: argparse.Namespace, server: hc.Server, lua: Path, tmp: Path) -> dict[str, Any]:
    """py-spy of one worker at concurrency 1 (see :mod:`harness.pyspy`)."""
    with results.stage("py-spy"):
        return pyspy.record(args.py_spy, server, lua, args.spy_seconds, tmp / "spy.txt", pyspy.KERAS_HANDLER, 1)


def targets(payload: dict[str, Any]) -> list[results.Target]:
    c1 = payload.get("c1")
    found = [
        results.Target(
            "keras-text single-query p50 (TF Serving-contract path, the image's default), c1",
            c1["tfs"]["p50_ms"] if c1 else None,
            "<=",
            TARGET_P50_MS,
            "ms",
            f"built-in path {c1['builtin']['p50_ms']} ms; wrk, keep-alive" if c1 else "",
        )
    ]
    ratio = (c1 or {}).get("ratio_tfs_p50_vs_function")
    if ratio is not None:
        found.append(
            results.Target(
                "keras-text single-query p50 over HTTP / in-process tf.function p50, c1",
                ratio["median"],
                "<=",
                TARGET_P50_VS_FUNCTION,
                "x",
                rounds.ratio_note(ratio, "tfs", "tf.function", "ms"),
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="byoc/keras-text:bench")
    parser.add_argument("--knbc", type=Path, default=Path("datasets/knbc"))
    parser.add_argument("--model-dir", type=Path, help="a trained model folder (default: train one, cached)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--text", default="電波が悪い")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="0: py-spy only, the file's rounds kept")
    parser.add_argument("--py-spy", help="path of a py-spy binary: also sample one worker of each server at c1")
    parser.add_argument("--spy-seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=results.RESULTS_DIR / "keras_text_tfs.json")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    load.wrk_path()
    run = results.Run("keras_text_tfs", args.allow_noisy)
    with hc.Containers(run.bench) as cs, tempfile.TemporaryDirectory(prefix="keras_text_tfs_") as tmp:
        payload = bench(args, cs, Path(tmp))
    if args.rounds == 0 and args.out.is_file():  # a py-spy pass only: keep the rounds of the last full run
        kept = json.loads(args.out.read_text())
        payload = {k: v for k, v in kept.items() if k.startswith("c") and k[1:].isdigit()} | {
            **payload,
            "rounds_command": kept.get("rounds_command", kept.get("command")),
        }
    results.write(run.record(payload, targets(payload), {"keras-text": args.image}), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
