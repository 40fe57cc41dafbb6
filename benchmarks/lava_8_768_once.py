"""One 256x128 image through snnpar-8-768 (random weights, BN calibrated, SSA): Norse forward vs Lava float.

    .venv/bin/python benchmarks/lava_8_768_once.py [DEPTH] [T]      # defaults: 8 blocks, T = 8

Prints the Norse forward time (float32 and float64), the export time, Lava's build/compile/run times,
its number of processes and peak memory, and the spike match against Norse on every LIF layer.
Needs about 10 GB of memory and a few minutes on 2 cores.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from export import export_nir, read_graph
from hw_sim.simulator.simulation import run
from snnpar.models.batchnorm import recalibrate_batchnorm
from snnpar.models.recording import record_spikes
from snnpar.models.spikingformer import Spikingformer, SpikingformerConfig


def timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return out


def main(depth: int = 8, time_steps: int = 8) -> None:
    torch.manual_seed(0)
    cfg = SpikingformerConfig(embed_dim=768, depth=depth, num_heads=8, time_steps=time_steps, attention="ssa")
    model = Spikingformer(cfg)
    recalibrate_batchnorm(model, [torch.randn(2, 3, *cfg.image_size)])
    model.eval()
    image = torch.randn(1, 3, *cfg.image_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(image)  # warm-up
        timed("Norse forward, float32", lambda: model(image))
        model = model.double()
        with record_spikes(model) as norse:
            timed("Norse forward, float64", lambda: model(image.double()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "student.nir"
        timed("export", lambda: export_nir(model, path))
        graph = read_graph(path)
    result = timed("Lava float, end to end", lambda: run(graph, image.double().numpy(), mode="float", progress=True))
    print("Lava timings", result.timings, "| processes", result.num_processes,
          f"| peak memory (PSS, all processes) {result.peak_memory_mb:.0f} MB")
    match = {n: float((result.spikes[n] == s.numpy()).mean()) for n, s in norse.items()}
    print(f"spike match vs Norse: min {min(match.values()):.6f} over {len(match)} LIF layers;"
          f" all exact: {all(v == 1.0 for v in match.values())}")
    print(f"main process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
