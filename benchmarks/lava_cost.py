"""Cost of the Lava simulation against the Norse forward of the same network and the same image.

For each setting and mode (float, fixed): export the student to NIR (`export.export_nir`), simulate with
`hw_sim.run` one image alone and then a stream of images (Lava pipelines them: B images take B*T + depth
steps), and measure wall time per image and per simulated step, peak resident memory (PSS of this process
plus its children: Lava runs each process as an OS process) and the number of Lava processes; then the
Norse forward of the same model on one image (batch 1), best of n. The key figure is Lava time per image /
Norse time per image (target: under 50x). Every Lava time includes lowering, building and compiling the
processes, paid once per run. Weights are untrained with BatchNorm calibrated on random batches
(workloads.py), so layers fire.

    .venv/bin/python benchmarks/lava_cost.py            # snnpar-tiny at 128x64, T=4: 1 image, a stream of 16
    .venv/bin/python benchmarks/lava_cost.py --full     # also snnpar-8-768 at 256x128, T=8: 1 image, 4 (slow)
    .venv/bin/python benchmarks/lava_cost.py --quick    # snnpar-tiny at 64x32, T=2, float only (smoke test)
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # export/ and hw_sim/ are top-level folders
warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.script deprecation, from Norse's import

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import format_table, time_interleaved, track_peak_memory  # noqa: E402
from workloads import calibrate_batchnorm, images, student  # noqa: E402


@dataclass
class LavaRun:
    images: int
    wall_s: float  # export excluded: lower + build + compile + run + read-out of all images
    setup_s: float  # lowering, building and compiling the processes (paid once per run)
    run_s: float  # the simulated steps themselves
    steps: int  # simulated time steps (B*T plus the pipeline depth)
    peak_mib: float  # PSS of this process and its children, sampled
    os_processes: int  # most child processes alive at one sample
    lava_processes: int  # as hw_sim.run reports it
    predictions_match: bool  # Lava's predicted attributes equal Norse's (float64) on these images

    @property
    def per_image_s(self) -> float:
        return self.wall_s / self.images


MIN_AVAILABLE_MIB = 3000.0  # stop a simulation before it starves the (shared) machine


class LavaOutOfMemory(RuntimeError):
    """The simulation was stopped because the machine ran low on memory."""


def simulate_once(model: torch.nn.Module, image: torch.Tensor, mode: str = "float",
                  min_available_mib: float = MIN_AVAILABLE_MIB) -> LavaRun:
    """Export `model`, simulate `image` [B, 3, H, W] (B images, one stream) in Lava once, and measure it.

    Raises LavaOutOfMemory (after hw_sim.run has stopped the Lava runtime) if the machine's available
    memory falls below `min_available_mib` meanwhile.
    """
    from export import export_nir
    from hw_sim.simulator.simulation import run

    with tempfile.TemporaryDirectory(prefix="snnpar-bench-") as tmp:
        path = Path(tmp) / "model.nir"
        export_nir(model, path)
        start = time.perf_counter()
        try:
            with track_peak_memory(min_available_mib=min_available_mib) as memory:
                result = run(path, image.numpy(), mode=mode, progress=False)
        except KeyboardInterrupt:
            if memory.stopped_low_memory_mib is None:
                raise
            raise LavaOutOfMemory(
                f"stopped after {time.perf_counter() - start:.0f} s: {memory.max_children} processes, peak "
                f"{memory.peak_mib:,.0f} MiB PSS, machine down to {memory.stopped_low_memory_mib:,.0f} MiB available"
            ) from None
        wall = time.perf_counter() - start
    run_s = result.timings.get("run_s", wall)
    with torch.no_grad():  # in float64, as the NIR graph holds the weights: float32 rounding can flip a logit near 0
        norse_predictions = (copy.deepcopy(model).double()(image.double()) > 0).numpy()
    match = bool((np.asarray(result.predictions).reshape(norse_predictions.shape) == norse_predictions).all())
    return LavaRun(len(image), wall, wall - run_s, run_s, int(result.steps), memory.peak_mib, memory.max_children,
                   int(result.num_processes), match)


def norse_forward_cost(model: torch.nn.Module, image: torch.Tensor, repeats: int) -> tuple[float, float]:
    """(best seconds of one Norse forward, peak MiB of the process during one forward)."""

    def forward() -> None:
        with torch.no_grad():
            model(image)

    best = time_interleaved({"norse": forward}, repeats=repeats)["norse"].best
    with track_peak_memory() as memory:
        forward()
    return best, memory.peak_mib


SETTINGS = {  # (preset, image size, T, stream length)
    "quick": [("snnpar-tiny", (64, 32), 2, 3)],
    "default": [("snnpar-tiny", (128, 64), 4, 16)],
    "full": [("snnpar-tiny", (128, 64), 4, 16), ("snnpar-8-768", (256, 128), 8, 4)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="tiny at 64x32, T=2, float only (smoke test)")
    group.add_argument("--full", action="store_true", help="also snnpar-8-768 at 256x128, T=8 (minutes)")
    parser.add_argument("--modes", nargs="+", default=None, choices=("float", "fixed"), help="default: float fixed")
    parser.add_argument("--repeats", type=int, default=3, help="timed Norse forwards per setting")
    parser.add_argument("--min-available-mib", type=float, default=MIN_AVAILABLE_MIB,
                        help="stop a simulation when the machine's available memory falls below this (default "
                             f"{MIN_AVAILABLE_MIB:.0f}); 8-768 in Lava takes more than 10 GiB")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared machine "
                        "extra OpenMP threads wait on busy cores and make small ops tens of times slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    modes = args.modes or (["float"] if args.quick else ["float", "fixed"])
    rows = []
    for preset, size, steps, stream in SETTINGS["quick" if args.quick else "full" if args.full else "default"]:
        model = calibrate_batchnorm(student(preset, size, steps), size, batches=1, batch=2)
        image = images(1, size, seed=9)
        norse_before, norse_mib = norse_forward_cost(model, image, args.repeats)
        setting = f"{preset} {size[0]}x{size[1]} T={steps}"
        runs = []
        for mode in modes:
            for count in (1, stream):
                try:
                    runs.append((mode, count, simulate_once(model, images(count, size, seed=9), mode,
                                                            args.min_available_mib)))
                except LavaOutOfMemory as error:
                    runs.append((mode, count, error))
        # Norse timed again after the simulations: the best of both, so that a busy spell on a shared
        # machine during one of them does not flatter the ratio
        norse_s = min(norse_before, norse_forward_cost(model, image, args.repeats)[0])
        for mode, count, lava in runs:
            if isinstance(lava, LavaOutOfMemory):
                rows.append([setting, mode, count, norse_s * 1e3, f"OUT OF MEMORY: {lava}", *["n/a"] * 9])
                continue
            rows.append([setting, mode, count, norse_s * 1e3, lava.wall_s, lava.setup_s, lava.steps,
                         lava.run_s / lava.steps * 1e3, lava.per_image_s, lava.per_image_s / norse_s, norse_mib,
                         lava.peak_mib, lava.lava_processes, lava.predictions_match])
    print(format_table(
        ["setting", "mode", "images", "Norse fwd ms / image", "Lava s", "of which setup s", "sim steps",
         "Lava ms / step", "Lava s / image", "Lava / Norse per image", "Norse peak MiB", "Lava peak MiB",
         "Lava processes", "same predictions"], rows,
        title=f"Lava simulation vs Norse forward, {torch.get_num_threads()} torch threads (Norse: batch 1, best of "
              f"{args.repeats} before and {args.repeats} after the simulations; Lava: one run of 1 image, then of a stream, lower + build + compile + run, export "
              "excluded)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
