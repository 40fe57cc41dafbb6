"""Cost of the Lava simulation against the Norse forward of the same network and the same image.

For each setting and mode (float, fixed): export the student to NIR (`export.export_nir`), simulate one
image with `hw_sim.run`, and measure wall time per image and per simulated step, peak resident memory
(psutil PSS of this process plus its children: Lava runs each process as an OS process) and the number
of Lava processes (the most child processes alive at once, and the builder's count where it reports
one); then the Norse forward of the same model on the same image, best of n. The key figure is
Lava time / Norse time (target: under 50x). Weights are untrained with BatchNorm calibrated on random
batches (workloads.py), so layers fire.

    .venv/bin/python benchmarks/lava_cost.py            # snnpar-tiny at 128x64, T=4
    .venv/bin/python benchmarks/lava_cost.py --full     # also snnpar-8-768 at 256x128, T=8 (slow)
    .venv/bin/python benchmarks/lava_cost.py --quick    # snnpar-tiny at 64x32, T=2, float only (smoke test)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
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


class LavaUnavailable(RuntimeError):
    """export.export_nir or hw_sim.run is not (yet) importable in this tree."""


@dataclass
class LavaRun:
    wall_s: float  # export excluded: lower + build + compile + run + read-out of one image
    setup_s: float  # lowering, building and compiling the processes (paid once per network)
    run_s: float  # the simulated steps themselves
    steps: int  # simulated time steps (T plus the pipeline depth)
    peak_mib: float  # psutil PSS of this process and its children, sampled
    os_processes: int  # most child processes alive at one sample
    lava_processes: int  # as hw_sim.run reports it
    predictions_match: bool  # Lava's predicted attributes equal Norse's on this image


def _lava_api():
    """(export_nir, hw_sim.run) or LavaUnavailable naming what is missing."""
    try:
        from export import export_nir
    except ImportError as error:
        raise LavaUnavailable(f"export.export_nir does not import ({error})") from error
    if importlib.util.find_spec("hw_sim.simulation") is None:
        raise LavaUnavailable("hw_sim/simulation.py does not exist yet")
    try:
        run = getattr(importlib.import_module("hw_sim.simulation"), "run", None)
    except ImportError as error:
        raise LavaUnavailable(f"hw_sim.run does not import ({error})") from error
    if not callable(run):
        raise LavaUnavailable("hw_sim.run has no callable run(graph_or_path, images, mode=...)")
    return export_nir, run


MIN_AVAILABLE_MIB = 3000.0  # stop a simulation before it starves the (shared) machine


class LavaOutOfMemory(RuntimeError):
    """The simulation was stopped because the machine ran low on memory."""


def simulate_once(model: torch.nn.Module, image: torch.Tensor, mode: str = "float",
                  min_available_mib: float = MIN_AVAILABLE_MIB) -> LavaRun:
    """Export `model`, simulate `image` [1, 3, H, W] in Lava once, and measure it.

    Raises LavaOutOfMemory (after hw_sim.run has stopped the Lava runtime) if the machine's available
    memory falls below `min_available_mib` meanwhile.
    """
    export_nir, run = _lava_api()
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
    steps = model.config.time_steps + max(result.depth.values())
    run_s = result.timings.get("run_s", wall)
    with torch.no_grad():
        norse_predictions = (model(image) > 0).numpy()
    match = bool((np.asarray(result.predictions).reshape(norse_predictions.shape) == norse_predictions).all())
    return LavaRun(wall, wall - run_s, run_s, int(steps), memory.peak_mib, memory.max_children,
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


SETTINGS = {
    "quick": [("snnpar-tiny", (64, 32), 2)],
    "default": [("snnpar-tiny", (128, 64), 4)],
    "full": [("snnpar-tiny", (128, 64), 4), ("snnpar-8-768", (256, 128), 8)],
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
    try:
        _lava_api()
    except LavaUnavailable as error:
        print(f"Lava cost: not available yet: {error}")
        return 0
    rows = []
    for preset, size, steps in SETTINGS["quick" if args.quick else "full" if args.full else "default"]:
        model = calibrate_batchnorm(student(preset, size, steps), size, batches=1, batch=2)
        image = images(1, size, seed=9)
        norse_s, norse_mib = norse_forward_cost(model, image, args.repeats)
        for mode in modes:
            try:
                lava = simulate_once(model, image, mode, args.min_available_mib)
            except LavaOutOfMemory as error:
                rows.append([f"{preset} {size[0]}x{size[1]} T={steps}", mode, norse_s * 1e3, f"OUT OF MEMORY: {error}",
                             *["n/a"] * 10])
                continue
            rows.append([f"{preset} {size[0]}x{size[1]} T={steps}", mode, norse_s * 1e3, lava.wall_s,
                         lava.wall_s / norse_s, lava.setup_s, lava.steps, lava.run_s / lava.steps * 1e3,
                         lava.run_s / norse_s, norse_mib, lava.peak_mib, lava.lava_processes, lava.os_processes,
                         lava.predictions_match])
    print(format_table(
        ["setting", "mode", "Norse fwd ms", "Lava s / image", "Lava / Norse", "of which setup s", "sim steps",
         "Lava ms / step", "Lava run only / Norse", "Norse peak MiB", "Lava peak MiB", "Lava processes",
         "OS processes", "same predictions"], rows,
        title=f"Lava simulation vs Norse forward, one image, {torch.get_num_threads()} torch threads "
              f"(Norse best of {args.repeats}; Lava one run: lower + build + compile + run, export excluded)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
