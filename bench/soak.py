"""Soak: an image's server under a steady mix of valid and hostile requests plus bursts of abandoned requests.

Not a timed test: it runs --seconds (default 600) of wrk at --concurrency 16 against ``serve`` with the default
workers, sending a fixed cycle of valid requests and every hostile body of the test suite (``tests/utils/
fuzz.py``), while a thread opens --burst connections every --abandon-every seconds that send a heavy request
(whole, or half of its body) and close without reading the answer, then checks /ping. Worker memory (each
worker's RSS, read in the container, and the cgroup's anonymous memory) is sampled every --sample-every
seconds; "start" is taken after --warmup seconds of the same load, "end" after the run. Targets: no 5xx, and
each worker's RSS growth over the second half of the run at most 5 %: a high-water mark reached early levels
off, a leak keeps growing. The growth is the least-squares trend (slope times the half's span, over the mean) of each
worker's RSS floor: the lowest RSS between two samples, read from the host's /proc every --floor-every seconds. A
worker that decodes a heavy request holds tens of MB for a moment, and under this load it holds one about half the
time: single samples jump between about 106 and 200 MB with no leak at all (chainer-mnist), so their trend over 30
samples moved by 10 % between runs; memory a worker keeps raises its floor, memory in flight does not. The single
samples, their trend and the end sample over the middle one are recorded too.
Refuses to run when the 1-minute load is above 1.0, unless --allow-noisy.

    .venv/chainer-mnist/bin/python bench/soak.py chainer-mnist --image byoc/chainer-mnist:bench --seconds 600
"""

from __future__ import annotations

import argparse
import json
import shlex
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

import soak_requests
from harness import containers as hc
from harness import load, models, results

MEMORY_LIMIT = 0.05  # RSS growth of each worker over the second half of the run
FLOOR = "workers_rss_floor_mb"  # each worker's lowest RSS between two samples, read from the host every --floor-every


def abandon(url: str, body: bytes, content_type: str, count: int) -> int:
    """``count`` clients send a request (half of them only half its body) and close without reading."""
    parsed, sent = urlparse(url), 0
    for i in range(count):
        part = body if i % 2 == 0 else body[: len(body) // 2]
        head = f"POST /invocations HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        try:
            with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as sock:
                sock.sendall(head.encode() + part)
            sent += 1
        except OSError:
            pass
    return sent


class Background(threading.Thread):
    """Memory samples and abandoned-request bursts while wrk runs."""

    def __init__(self, server: hc.Server, mix: soak_requests.Mix, args: argparse.Namespace) -> None:
        super().__init__(daemon=True)
        self.server, self.mix, self.args = server, mix, args
        self.stop, self.samples, self.abandoned, self.pings = threading.Event(), [], 0, []

    def run(self) -> None:
        started = last_burst = last_sample = time.monotonic()
        floor: dict[int, float] = {}
        while not self.stop.wait(self.args.floor_every):
            for pid, rss in self.server.workers_rss_mb_host().items():
                floor[pid] = min(rss, floor.get(pid, rss))
            if time.monotonic() - last_sample < self.args.sample_every:
                continue
            last_sample = time.monotonic()
            self.samples.append(sample(self.server, last_sample - started) | {FLOOR: floor})
            floor = {}
            if time.monotonic() - last_burst >= self.args.abandon_every:
                last_burst = time.monotonic()
                self.abandoned += abandon(self.server.url, *self.mix.abandoned, self.args.burst)
                self.pings.append(ping(self.server.url))


def ping(url: str) -> int:
    try:
        return requests.get(f"{url}/ping", timeout=10).status_code
    except requests.RequestException:
        return 0


def sample(server: hc.Server, at_s: float) -> dict[str, Any]:
    snapshot = server.memory()
    return {
        "t_s": round(at_s, 1),
        "workers_rss_mb": hc.workers_rss_mb(snapshot),
        "cgroup_anon_mb": snapshot.get("cgroup_anon_mb"),
    }


def growth(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    before, after = start["workers_rss_mb"], end["workers_rss_mb"]
    same = sorted(set(before) & set(after))
    ratios = {pid: round(after[pid] / before[pid] - 1, 4) for pid in same}
    return {
        "per_worker": ratios,
        "max": max(map(abs, ratios.values())) if ratios else None,
        "restarted": sorted(set(before) ^ set(after)),
    }


def trend(samples: list[dict[str, Any]], key: str = "workers_rss_mb") -> dict[str, Any]:
    """Each worker's RSS trend over ``samples``: the least-squares slope times their span, over their mean."""
    samples = [x for x in samples if x.get(key)]
    rows = [{str(pid): rss for pid, rss in x[key].items()} for x in samples]  # JSON keys are strings, live ones ints
    workers = set.intersection(*map(set, rows)) if len(rows) > 2 else set()
    times = [x["t_s"] for x in samples]
    ratios = {}
    for pid in sorted(workers):
        rss = [row[pid] for row in rows]
        fit = statistics.linear_regression(times, rss)
        ratios[pid] = round(fit.slope * (times[-1] - times[0]) / statistics.mean(rss), 4)
    return {"per_worker": ratios, "max": max(ratios.values()) if ratios else None, "samples": len(samples)}


def middle(samples: list[dict[str, Any]], fallback: dict[str, Any]) -> dict[str, Any]:
    return samples[len(samples) // 2] if samples else fallback


def soak(args: argparse.Namespace, cs: hc.Containers, tmp: Path) -> dict[str, Any]:
    if args.kind == "chainer-mnist":
        model_dir = models.chainer_model(cs, args.image, args.data)
        mix = soak_requests.chainer_mix(tmp, args.data)
    else:
        model_dir = models.keras_model(cs, args.image, args.knbc)
        mix = soak_requests.keras_mix(tmp)
    lua = load.write_script(tmp, "soak", mix.requests, count_statuses=True)
    server = hc.start(cs, hc.ServerSpec(args.image, volumes={str(model_dir): "/opt/ml/model"}))
    url = f"{server.url}/invocations"
    with results.stage(f"warm-up, {args.warmup:g} s"):
        warm = load.run(url, lua, args.concurrency, args.warmup, timeout_s=30)
    start = sample(server, 0)
    background = Background(server, mix, args)
    background.start()
    with results.stage(f"soak, {args.seconds:g} s at concurrency {args.concurrency}"):
        main = load.run(url, lua, args.concurrency, args.seconds, timeout_s=30)
    background.stop.set()
    background.join()
    end = sample(server, args.seconds)
    logs = server.container.logs().decode(errors="replace")
    statuses = main.get("statuses", {})
    return {
        "image_kind": args.kind,
        "warmup": warm,
        "soak": main,
        "five_xx": sum(n for code, n in statuses.items() if code.startswith("5")),
        "valid_share_of_cycle": mix.valid_share,
        "cycle": [{"body": r.body.name, "content_type": r.content_type, "weight": r.weight} for r in mix.requests],
        "abandoned": {"sent": background.abandoned, "pings_after_bursts": background.pings},
        "memory": {
            "start": start,
            "end": end,
            "growth": growth(start, end),
            # a high-water mark reached early levels off; a leak keeps growing in the second half too
            "growth_second_half": growth(middle(background.samples, start), end),
            "trend_second_half": trend([*background.samples[len(background.samples) // 2 :], end]),
            "floor_trend_second_half": trend(background.samples[len(background.samples) // 2 :], FLOOR),
            "samples": background.samples,
        },
        "server_log": {"tracebacks": logs.count("Traceback"), "error_lines": logs.count(" ERROR ")},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "allow_noisy")}
        | {"data": str(args.data), "knbc": str(args.knbc)},
    }


def soak_targets(kind: str, payload: dict[str, Any]) -> list[results.Target]:
    run, memory = payload["soak"], payload["memory"]
    whole = memory["growth"]["max"]
    note = f"start to end {whole:+.1%}; " if whole is not None else ""
    halves = memory["growth_second_half"]["max"]
    note += f"middle sample to end {halves:+.1%}; " if halves is not None else ""
    note += f"p99 {run['p99_ms']} ms over {run['requests']} requests, "
    note += f"{payload['settings']['seconds']:g} s; {payload['abandoned']['sent']} abandoned"
    floor = memory.get("floor_trend_second_half", {}).get("max")
    note += f"; trend of single samples {memory['trend_second_half']['max']:+.1%}" if floor is not None else ""
    return [
        results.Target(f"{kind} soak: 5xx answers", payload["five_xx"], "<=", 0),
        results.Target(
            f"{kind} soak: worker RSS growth over the second half (least-squares trend of the "
            + ("RSS floor between samples)" if floor is not None else "samples)"),
            floor if floor is not None else memory["trend_second_half"]["max"],
            "<=",
            MEMORY_LIMIT,
            "",
            note,
        ),
    ]


def rescore(path: Path) -> int:
    """A recorded run's memory summaries and targets, computed again from its samples by today's rules."""
    record = json.loads(path.read_text())
    memory = record["memory"]
    samples = memory["samples"]
    memory["trend_second_half"] = trend([*samples[len(samples) // 2 :], memory["end"]])
    if any(FLOOR in x for x in samples):
        memory["floor_trend_second_half"] = trend(samples[len(samples) // 2 :], FLOOR)
    record["targets"] = [t.as_dict() for t in soak_targets(record["image_kind"], record)]
    record["rescored"] = {"at": results.now(), "command": shlex.join(["python", *sys.argv])}
    results.write(record, path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["chainer-mnist", "keras-text"])
    parser.add_argument("--image", help="default: byoc/<kind>:bench")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=30)
    parser.add_argument("--abandon-every", type=float, default=30, help="seconds between bursts")
    parser.add_argument("--burst", type=int, default=32, help="abandoned requests per burst")
    parser.add_argument("--sample-every", type=float, default=10, help="seconds between memory samples")
    parser.add_argument(
        "--floor-every", type=float, default=0.5, help="seconds between the host-side RSS reads behind each floor"
    )
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--knbc", type=Path, default=Path("datasets/knbc"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rescore", action="store_true", help="recompute the targets from the recorded samples")
    results.add_noise_argument(parser)
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(args.out or results.RESULTS_DIR / f"soak_{args.kind.replace('-', '_')}.json")
    args.image = args.image or f"byoc/{args.kind}:bench"
    load.wrk_path()
    run = results.Run(f"soak_{args.kind.replace('-', '_')}", args.allow_noisy)
    with hc.Containers(run.bench) as cs, tempfile.TemporaryDirectory(prefix="soak_") as tmp:
        payload = soak(args, cs, Path(tmp))
    run.sample_load()
    targets = soak_targets(args.kind, payload)
    out = args.out or results.RESULTS_DIR / f"{run.bench}.json"
    results.write(run.record(payload, targets, {args.kind: args.image}), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
