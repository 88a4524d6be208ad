"""One Markdown section per result file for bench/results/SUMMARY.md (tables of the numbers that matter)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

BATCH_COLUMNS = ["contender", "images/s", "CPU ms/image", "client CPU ms/image", "machine CPU ms/image", "CPUs busy"]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]


def _single(record: dict[str, Any], contenders: Sequence[str]) -> list[str]:
    rows = []
    for key in (k for k in record if k.startswith("c") and k[1:].isdigit()):
        for name in contenders:
            if name in record[key]:
                r = record[key][name]
                rows.append([name, key[1:], r["rps"], r["p50_ms"], r["p99_ms"], r.get("cpu_ms_per_request")])
    return _table(["contender", "concurrency", "req/s", "p50 ms", "p99 ms", "CPU ms/request"], rows)


def chainer_serving(record: dict[str, Any]) -> list[str]:
    out = [
        "Medians over the interleaved rounds (wrk, keep-alive):",
        "",
        *_single(record["single"], ("inprocess", "ours", "baseline")),
    ]
    ratios = [
        [k, name, v["median"], v["rounds"]]
        for k in record["single"]
        for name, v in record["single"][k]["ratios"].items()
    ]
    out += ["", *_table(["concurrency", "ratio", "median", "per round"], ratios), ""]
    batch = record["batch"]
    rows = [
        [
            name,
            v["images_per_s"],
            v.get("cpu_ms_per_image"),
            v.get("client_cpu_ms_per_image"),
            v.get("machine_cpu_ms_per_image"),
            v.get("machine_busy_cpus"),
        ]
        for name, v in batch.items()
        if isinstance(v, dict) and "images_per_s" in v
    ]
    out += [
        f"Batch transform, {batch['images']} images in {batch['requests']} CSV requests of {batch['payload_mb']} MB, "
        f"{batch['concurrency']} at a time (medians over the rounds):",
        "",
        *_table(BATCH_COLUMNS, rows),
        "",
        *_table(["ratio", "median", "per round"], [[k, v["median"], v["rounds"]] for k, v in batch["ratios"].items()]),
    ]
    return [*out, "", f"Image size: {record['image_size_mb']} MB."]


def _spy(title: str, spy: dict[str, Any]) -> list[str]:
    rows = [[name, share] for name, share in spy["buckets_of_busy"].items()]
    kind = "--native" if spy.get("native") else "Python frames"
    head = f"{title}, py-spy {kind} ({spy['samples']} thread-samples; waiting {spy['idle_share']:.0%}, "
    head += f"in uvloop's C loop {spy.get('uvloop_c_or_idle_share', 0):.0%}), the rest by bucket:"
    top = ", ".join(f"{frame} {share:.1%}" for frame, share in spy.get("self_of_busy", [])[:8])
    return ["", head, "", *_table(["bucket", "share"], rows), "", f"Top leaf frames: {top}."]


def keras_text_tfs(record: dict[str, Any]) -> list[str]:
    out = ["Medians over the interleaved rounds (wrk, keep-alive):", "", *_single(record, ("tfs", "builtin"))]
    for name, spy in record.get("py_spy_c1", {}).items():
        out += _spy(f"One {name} worker at concurrency 1", spy)
    return out


def soak(record: dict[str, Any]) -> list[str]:
    s, m = record["soak"], record["memory"]
    rows = [
        [
            record["image_kind"],
            s["requests"],
            s["rps"],
            record["five_xx"],
            s["p50_ms"],
            s["p99_ms"],
            record["abandoned"]["sent"],
        ]
    ]
    out = _table(["image", "requests", "req/s", "5xx", "p50 ms", "p99 ms", "abandoned"], rows)
    out += ["", f"Statuses: {s.get('statuses')}; socket errors: {s['socket_errors']}."]
    out += [
        f"Worker RSS MB, start -> end: {m['start']['workers_rss_mb']} -> {m['end']['workers_rss_mb']} "
        f"(growth {m['growth']['per_worker']})."
    ]
    return [
        *out,
        f"Server log: {record['server_log']}; /ping after bursts: {record['abandoned']['pings_after_bursts']}.",
    ]


def multihost(record: dict[str, Any]) -> list[str]:
    runs = [v for v in record.values() if isinstance(v, dict) and "test_accuracy" in v]
    rows = [[r["hosts"], r["test_accuracy"], r["seconds"]] for r in runs]
    return [*_table(["hosts", "test accuracy", "seconds"], rows), "", f"Settings: {record['settings']}."]


def chainer_training(record: dict[str, Any]) -> list[str]:
    rows = [
        [r["loop"], r["model"], r["epochs"], r.get("eval_batch_size"), r["images_per_sec"], r["test_accuracy"]]
        for r in record["mlp"]
    ]
    if "cnn" in record:
        r = record["cnn"]
        rows.append(
            [r["loop"], r["model"], r["epochs"], r.get("eval_batch_size"), r["images_per_sec"], r["test_accuracy"]]
        )
    return [
        *_table(["loop", "model", "epochs", "eval batch", "images/s", "test accuracy"], rows),
        "",
        f"Speed-up: {record['speedup']}x.",
    ]


def keras_text_serving(record: dict[str, Any]) -> list[str]:
    lat, thr = record["latency_ms"], record["throughput"]
    return [
        f"Python client (not wrk): p50 {lat['p50']} ms, p99 {lat['p99']} ms over {lat['requests']} requests; "
        f"{thr['requests_per_s']} req/s at concurrency {thr['concurrency']}; "
        f"training job {record.get('training_seconds')} s ({record.get('training_epochs')} epochs); "
        f"image {record['image_size_mb']} MB."
    ]


def keras_text_quality(record: dict[str, Any]) -> list[str]:
    summary = record["summary"]
    rows = [[r["seed"], r["accuracy"], r["macro_f1"], r["epochs_run"], r["training_seconds"]] for r in record["runs"]]
    rows += [[name, b["accuracy"], b["macro_f1"], "-", "-"] for name, b in record["baselines"].items()]
    labels = ", ".join(f"{k} {v}" for k, v in summary["mean_f1_per_label"].items())
    return [
        *_table(["model (seed)", "test accuracy", "macro-F1", "epochs", "training s"], rows),
        "",
        f"Mean accuracy {summary['mean_accuracy']}, mean macro-F1 {summary['mean_macro_f1']}; "
        f"mean F1 per label: {labels}.",
    ]


def serving_profile(record: dict[str, Any]) -> list[str]:
    out = ["Server CPU per single-image request by variant (medians over rounds; ratio to in-process, paired):", ""]
    rows = []
    for key in (k for k in record if k.startswith("c") and k[1:].isdigit()):
        row = record[key]
        for name, ratio in row["cpu_vs_inprocess"].items():
            rows.append([key[1:], name, row[name]["cpu_ms_per_request"], ratio["median"], row[name]["rps"]])
        rows.append([key[1:], "inprocess", row["inprocess"]["cpu_ms_per_request"], 1, row["inprocess"]["rps"]])
    out += _table(["concurrency", "variant", "CPU ms/request", "vs in-process", "req/s"], rows)
    out += ["", "Variants: " + "; ".join(f"{k}: {v}" for k, v in record["variants"].items()) + "."]
    if record.get("py_spy_c16"):
        out += _spy("One worker at concurrency 16", record["py_spy_c16"])
    return out


def cold_start(record: dict[str, Any]) -> list[str]:
    rows = [[kind, v["median_s"], v["runs_s"]] for kind, v in record["cold_start"].items()]
    return ["`docker run IMAGE serve` to the first /ping 200:", "", *_table(["image", "median s", "runs s"], rows)]


def keras_text_fixture(record: dict[str, Any]) -> list[str]:
    rows = [[r["seed"], r["right"], r["min_margin"], r["test_accuracy"], r["training_seconds"]] for r in record["runs"]]
    fixture = record["fixture"]
    return [
        *_table(["seed", "obvious sentences right", "smallest margin", "test accuracy", "training s"], rows),
        "",
        f"The tests' model: {fixture['train_rows']} rows of train, hyperparameters {fixture['hyperparameters']}.",
    ]


def keras_text_tuning(record: dict[str, Any]) -> list[str]:
    rows = [
        [
            c["configuration"],
            c["runs"],
            c["mean_tuning_accuracy"],
            c["mean_tuning_macro_f1"],
            "{}-{}".format(*c["accuracy_range"]),
        ]
        for c in record["by_configuration"]
    ]
    header = ["configuration", "runs", "mean accuracy", "mean macro-F1", "accuracy range"]
    baselines = record.get("baselines") or {}
    scored = "; ".join(f"{b['name']}: {b['accuracy']} (macro-F1 {b['macro_f1']})" for b in baselines.values())
    return [
        f"Hyperparameter search ({record['method']}): {len(record['runs'])} runs.",
        *([f"Baselines on the same split: {scored}."] if scored else []),
        "",
        *_table(header, rows),
    ]


def conformance(record: dict[str, Any]) -> list[str]:
    rows = []
    for name, image in record["images"].items():
        counts = image["counts"]
        failed = ", ".join(check for check, r in image["not_passed"].items() if r["status"] == "fail") or "-"
        slowest = ", ".join(f"{r['id']} {r['seconds']:.0f} s" for r in image["slowest"][:3])
        rows.append([name, image["wall_seconds"], counts["pass"], counts["fail"], counts["skip"], failed, slowest])
    header = ["image", "wall s", "passed", "failed", "skipped", "failed checks", "slowest checks"]
    return ["`conformance` per image, one after the other:", "", *_table(header, rows)]


SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "chainer_serving": chainer_serving,
    "keras_text_tfs": keras_text_tfs,
    "chainer_serving_profile": serving_profile,
    "chainer_training": chainer_training,
    "keras_text_serving": keras_text_serving,
    "keras_text_quality": keras_text_quality,
    "keras_text_tuning": keras_text_tuning,
    "keras_text_tuning_sentencepiece": keras_text_tuning,
    "cold_start": cold_start,
    "keras_text_fixture": keras_text_fixture,
    "conformance": conformance,
}


def section(name: str, record: dict[str, Any]) -> list[str]:
    renderer = SECTIONS.get(name) or (
        soak if name.startswith("soak_") else multihost if name.startswith("multihost_") else None
    )
    if renderer is None:
        return [f"Keys: {', '.join(sorted(record))} (no renderer for this file)."]
    try:
        return renderer(record)
    except (KeyError, TypeError) as exc:  # a file from an older version of its bench
        return [f"(not rendered: {type(exc).__name__} {exc}; keys {', '.join(sorted(record))})"]
