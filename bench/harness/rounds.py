"""Interleaved rounds: every contender once per round, the order rotating, and ratios paired within a round.

Load from elsewhere on a shared machine only ever slows a run down and drifts over minutes; running the
contenders back to back within a round and taking the median of per-round ratios cancels most of that drift.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Measure = Callable[[], dict[str, Any]]


def interleave(contenders: Mapping[str, Measure], rounds: int, on_round: Callable[[], None] | None = None) -> dict:
    """``{name: [run of round 1, run of round 2, ...]}``, each run tagged with its round and the 1-min load."""
    names = list(contenders)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            run = contenders[name]()
            run["round"], run["loadavg_1min"] = index + 1, round(os.getloadavg()[0], 2)
            runs[name].append(run)
            print(f"   round {index + 1} {name}: {_short(run)}", flush=True)
        if on_round is not None:
            on_round()
    return runs


def _short(run: dict[str, Any]) -> str:
    keys = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "images_per_s")
    return ", ".join(f"{k}={run[k]}" for k in keys if k in run)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def summary(runs: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Median over the rounds of each key, and the per-round values."""
    return {key: median([run.get(key) for run in runs]) for key in keys} | {
        f"{key}_rounds": [run.get(key) for run in runs] for key in keys
    }


def paired_ratio(top: Sequence[dict[str, Any]], bottom: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """``top[key] / bottom[key]`` per round; the median is the lower median, so that it is one round's ratio,
    and the two figures of that round come with it (a figure and its ratio from the same round)."""
    ratios = [
        round(a[key] / b[key], 4) if a.get(key) is not None and b.get(key) else None
        for a, b in zip(top, bottom, strict=True)
    ]
    present = [(r, i) for i, r in enumerate(ratios) if r is not None]
    if not present:
        return {"median": None, "rounds": ratios}
    ratio, index = sorted(present)[(len(present) - 1) // 2]
    return {
        "median": ratio,
        "rounds": ratios,
        "median_round": index + 1,
        "top": top[index][key],
        "bottom": bottom[index][key],
        "kind": "lower median of per-round ratios; top and bottom are that round's figures",
    }


def ratio_note(ratio: dict[str, Any], top: str, bottom: str, unit: str) -> str:
    """``ratio``'s round and figures in words, for a target's note."""
    if ratio.get("median") is None:
        return "not measured"
    return (
        f"{top} {ratio['top']:g} vs {bottom} {ratio['bottom']:g} {unit} in round {ratio['median_round']}, "
        f"the median of the per-round ratios {ratio['rounds']}"
    )
