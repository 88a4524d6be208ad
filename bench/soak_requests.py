"""What the soak sends each image: weighted valid requests, every hostile body of the test suite, wrong
Content-Type and Accept headers, and the heavier request its abandoning clients send and drop."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.load import Request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# The test suite's hostile bodies, so that the soak sends what the tests check.
from utils import fuzz

JSON, JSONLINES, CSV, NPY = fuzz.JSON, fuzz.JSONLINES, fuzz.CSV, fuzz.NPY
TEXTS = ["電波が悪い", "清水寺に行きました", "ラーメンがおいしかった", "試合に勝った", "新しい携帯を買った"]


@dataclass(frozen=True)
class Mix:
    requests: list[Request]
    abandoned: tuple[bytes, str]  # body and Content-Type of the requests whose clients leave early
    valid_share: float


def _write(folder: Path, name: str, body: bytes) -> Path:
    path = folder / name
    path.write_bytes(body)
    return path


def _hostile(folder: Path, content_types: tuple[str, ...]) -> list[Request]:
    found = [
        Request(_write(folder, f"hostile-{i}.bin", body), kind)
        for i, (_, body, kind) in enumerate(fuzz.hostile_bodies(content_types))
    ]
    found.append(Request(_write(folder, "wrong-type.bin", b"<x/>"), "application/xml"))
    return found


def chainer_mix(folder: Path, mnist: Path) -> Mix:
    with np.load(mnist / "test" / "test.npz") as npz:
        images = npz["images"].reshape(-1, 784)[:500]
    npy = io.BytesIO()
    np.save(npy, images[:1].astype(np.float32) / 255)
    csv = io.BytesIO()
    np.savetxt(csv, images, fmt="%d", delimiter=",")
    single = _write(folder, "single.json", json.dumps({"instances": [images[0].tolist()]}).encode())
    lines = csv.getvalue().splitlines(keepends=True)
    valid = [
        Request(single, JSON, weight=40),
        Request(_write(folder, "ten.csv", b"".join(lines[:10])), CSV, weight=10, headers={"Accept": CSV}),
        Request(_write(folder, "one.npy", npy.getvalue()), NPY, weight=10, headers={"Accept": NPY}),
        Request(single, JSON, weight=1, headers={"Accept": "image/png"}),  # 406
    ]
    hostile = _hostile(folder, (JSON, CSV, NPY))
    return Mix(valid + hostile, (csv.getvalue(), CSV), _share(valid[:3], hostile + valid[3:]))


def keras_mix(folder: Path) -> Mix:
    single = _write(folder, "single.json", json.dumps({"q": TEXTS[0]}, ensure_ascii=False).encode())
    several = json.dumps({"q": TEXTS}, ensure_ascii=False).encode()
    jsonl = "".join(json.dumps({"q": t}, ensure_ascii=False) + "\n" for t in TEXTS[:3]).encode()
    valid = [
        Request(single, JSON, weight=40),
        Request(_write(folder, "several.json", several), JSON, weight=10),
        Request(_write(folder, "three.jsonl", jsonl), JSONLINES, weight=10, headers={"Accept": JSONLINES}),
    ]
    hostile = _hostile(folder, (JSON, JSONLINES))
    many = json.dumps({"q": TEXTS * 40}, ensure_ascii=False).encode()
    return Mix(valid + hostile, (many, JSON), _share(valid, hostile))


def _share(valid: list[Request], invalid: list[Request]) -> float:
    total = sum(r.weight for r in valid) + sum(r.weight for r in invalid)
    return round(sum(r.weight for r in valid) / total, 3)
