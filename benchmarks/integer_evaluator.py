"""The batched integer evaluator against Lava fixed point and against the Norse float forward, side by side.

For each setting: the student (BatchNorm calibrated on random batches, workloads.py) exported to NIR, lowered
and post-training quantised once (the worst-case scale rule, or the data-calibrated one where the worst-case
rule refuses a layer, as for snnpar-8-768); then, measured in this run,
- the integer evaluator (`hw_sim.chip.integer_evaluator`, torch, exact integers) on a batch: images/s;
- Lava fixed point (`hw_sim.simulator.simulation.run`) on a stream of images: wall time per image, build and
  compile included (what a user waits for), and whether its spikes equal the evaluator's on every layer;
- the Norse float32 forward of the same model on the same batch: images/s.
Goals (issue 13): evaluator >= 100x Lava fixed per image, and at most 3x slower than the Norse forward.

    .venv/bin/python benchmarks/integer_evaluator.py            # snnpar-tiny 128x64 T=4 (stream of 8)
    .venv/bin/python benchmarks/integer_evaluator.py --full     # also snnpar-8-768 256x128 T=8 (Lava: 1 image, minutes)
    .venv/bin/python benchmarks/integer_evaluator.py --quick    # snnpar-tiny 64x32 T=2 (smoke test)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import format_table, time_interleaved  # noqa: E402
from workloads import calibrate_batchnorm, images, student  # noqa: E402

SETTINGS = {  # (preset, image size, T, evaluator / Norse batch, Lava stream)
    "quick": [("snnpar-tiny", (64, 32), 2, 8, 2)],
    "default": [("snnpar-tiny", (128, 64), 4, 32, 8)],
    "full": [("snnpar-tiny", (128, 64), 4, 32, 8), ("snnpar-8-768", (256, 128), 8, 2, 1)],
}


def deployable_quantization(model, normalization: dict | None, size: tuple[int, int]):
    """The network and formats `snnpar eval --backend loihi2-fixed` deploys (`hw_sim.chip.deployment`): the
    worst-case scale rule, or where it refuses a layer the data-calibrated one (4 other images)."""
    from hw_sim.chip.deployment import deployed_network
    from snnpar.errors import UserError

    try:
        return "worst-case", *deployed_network(model, normalization)
    except UserError:
        return "calibrated", *deployed_network(model, normalization, calibration_images=images(4, size, seed=77))


def measure(preset: str, size: tuple[int, int], steps: int, batch: int, stream: int, repeats: int) -> list:
    from export import export_nir
    from hw_sim.chip.integer_evaluator import IntegerEvaluator, spikes_numpy
    from hw_sim.simulator.simulation import run

    model = calibrate_batchnorm(student(preset, size, steps), size, batches=1, batch=2)
    x = images(batch, size, seed=9)
    with tempfile.TemporaryDirectory(prefix="snnpar-bench-") as tmp:
        path = Path(tmp) / "model.nir"
        graph = export_nir(model, path)
        rule, net, quant = deployable_quantization(model, graph.metadata.get("normalization"), size)
        start = time.perf_counter()
        lava = run(path, x[:stream].numpy(), mode="fixed", quantization=quant, progress=False)
        lava_per_image = (time.perf_counter() - start) / stream
    start = time.perf_counter()
    evaluator = IntegerEvaluator(net, quant)
    setup = time.perf_counter() - start
    same = all(np.array_equal(lava.spikes[n], s)
               for n, s in spikes_numpy(evaluator.run(x[:stream], record=True)).items())

    def norse():
        with torch.no_grad():
            model(x)

    best = time_interleaved({"evaluator": lambda: evaluator.run(x), "norse": norse}, repeats=repeats)
    evaluator_rate, norse_rate = batch / best["evaluator"].best, batch / best["norse"].best
    return [f"{preset} {size[0]}x{size[1]} T={steps}", rule, batch, evaluator_rate, setup, norse_rate,
            norse_rate / evaluator_rate, stream, lava_per_image, evaluator_rate * lava_per_image, same]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true", help="also snnpar-8-768 (Lava fixed: minutes, > 8 GB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from snnpar.errors import UserError

    rows = []
    for setting in SETTINGS["quick" if args.quick else "full" if args.full else "default"]:
        try:
            rows.append(measure(*setting, args.repeats))
        except UserError as refused:  # post-training quantisation refuses this network: say so, measure the rest
            name = f"{setting[0]} {setting[1][0]}x{setting[1][1]} T={setting[2]}"
            rows.append([name, "n/a", setting[3], f"REFUSED: {refused}", *["n/a"] * 7])
    print(format_table(
        ["setting", "scale rule", "batch", "evaluator img/s", "evaluator setup s", "Norse fwd img/s", "evaluator slower than Norse x",
         "Lava stream", "Lava fixed s / image", "evaluator faster than Lava x", "Lava spikes = evaluator"], rows,
        title=f"Integer evaluator vs Lava fixed point and the Norse float32 forward, {torch.get_num_threads()} torch "
              f"threads, CPU (best of {args.repeats}; Lava: one run of a stream, build + compile included)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
