"""The in-process contender of the chainer-mnist benches, run inside the image (:mod:`chainer_inprocess`).

It runs in a container of the same image rather than on the host: the host's venv has its own Python build,
which decodes a 6 MB CSV request about 3.5x slower than the image's Debian Python with the same NumPy, so a
host-side limit would flatter the servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import containers as hc
from sm_contract.server import THREAD_VARS

HERE = Path(__file__).resolve().parent
SCRIPT = "/opt/bench/chainer_inprocess.py"
SCRATCH = "/opt/bench_tmp"


class InProcess:
    """``single`` and ``batch`` runs shaped like the servers' (rps, p50_ms, cpu_ms_per_request, images_per_s)."""

    def __init__(self, cs: hc.Containers, image: str, model_dir: Path, scratch: Path, processes: int, threads: int):
        volumes = {str(HERE): "/opt/bench", str(model_dir): "/opt/ml/model", str(scratch): SCRATCH}
        self.agent = hc.Agent(cs, image, volumes)
        self.scratch, self.processes = scratch, processes
        self.environment = dict.fromkeys(THREAD_VARS, str(threads))

    def _run(self, args: list[str]) -> dict[str, Any]:
        command = ["python3", SCRIPT, "--processes", str(self.processes), *args]
        return self.agent.run_json(command, self.environment)

    def single(self, body_file: Path, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
        inside = f"{SCRATCH}/{body_file.relative_to(self.scratch)}"
        args = ["single", "--body", inside, "--concurrency", str(concurrency)]
        return self._run([*args, "--seconds", str(seconds), "--warmup", str(warmup)])

    def batch(self, mode: str, images: int, chunk_files: list[Path], passes: int = 1) -> dict[str, Any]:
        chunks = [f"{SCRATCH}/{f.relative_to(self.scratch)}" for f in chunk_files]
        args = ["batch", "--mode", mode, "--images", str(images), "--passes", str(passes)]
        return self._run([*args, "--chunks", *chunks])
