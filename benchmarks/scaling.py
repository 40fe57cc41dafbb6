"""How time and memory of training and of the Lava simulation grow with image size, T and depth.

A small sweep around one base network (a narrow student: width 32, 2 heads): vary one of image size,
time steps T and depth at a time, and measure per point
  - training: one step (forward + BCE + backward + Adam) at batch 1, best of n, and the activation
    memory autograd saves for the backward pass (exact, via saved-tensor hooks; RSS is blurred by the
    allocator's cache);
  - Lava: one simulated image in float mode through export -> hw_sim.run, wall time and peak memory
    (PSS of all processes), on a smaller sweep (32x16 base) since each point costs tens of seconds;
    skipped with --quick or --no-lava.
Prints a table and saves a log-log plot (default benchmarks/scaling.png; --quick writes none unless
--plot is given). Growth exponents (slope of log time vs log size) are printed for each sweep.

    .venv/bin/python benchmarks/scaling.py
    .venv/bin/python benchmarks/scaling.py --quick --plot /tmp/scaling.png
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # export/ and hw_sim/ are top-level folders
warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.script deprecation, from Norse's import

import torch  # noqa: E402
from lava_cost import simulate_once  # noqa: E402
from timing import format_table, time_interleaved  # noqa: E402
from workloads import calibrate_batchnorm, images  # noqa: E402

from snnpar.models.spikingformer import Spikingformer, SpikingformerConfig  # noqa: E402

DEFAULT_PLOT = Path(__file__).with_name("scaling.png")


@dataclass(frozen=True)
class Point:
    image_size: tuple[int, int]
    time_steps: int
    depth: int
    embed_dim: int = 32

    @property
    def pixels(self) -> int:
        return self.image_size[0] * self.image_size[1]

    def model(self) -> Spikingformer:
        torch.manual_seed(0)
        cfg = SpikingformerConfig(embed_dim=self.embed_dim, depth=self.depth, num_heads=2,
                                  image_size=self.image_size, time_steps=self.time_steps)
        return calibrate_batchnorm(Spikingformer(cfg), self.image_size, batches=1, batch=2)


def sweep_around(base: Point, sizes, steps, depths) -> dict[str, list[Point]]:
    return {"image size": [replace(base, image_size=v) for v in sizes],
            "T": [replace(base, time_steps=v) for v in steps],
            "depth": [replace(base, depth=v) for v in depths]}


def training_sweeps(quick: bool) -> dict[str, list[Point]]:
    if quick:
        return sweep_around(Point((32, 16), 2, 1), [(32, 16), (64, 32)], [2, 4], [1, 2])
    return sweep_around(Point((128, 64), 4, 1), [(64, 32), (128, 64), (256, 128)], [2, 4, 8], [1, 2, 4])


LAVA_BASE = Point((32, 16), 2, 1)


def lava_sweeps() -> dict[str, list[Point]]:
    """Smaller than the training sweep: each Lava point costs seconds to tens of seconds."""
    return sweep_around(LAVA_BASE, [(32, 16), (64, 32), (128, 64)], [2, 4, 8], [1, 2, 4])


def sweep_value(sweep: str, p: Point) -> float:
    return {"image size": p.pixels, "T": p.time_steps, "depth": p.depth}[sweep]


def saved_activation_mib(model: torch.nn.Module, x: torch.Tensor) -> float:
    """MiB of tensors autograd keeps for the backward pass of one forward: the memory training grows by.

    Counted exactly through saved-tensor hooks (each storage once), unlike RSS, which the allocator's
    caching makes useless for one step inside a long-running process.
    """
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values()) / 2**20


def measure_training(point: Point, repeats: int) -> tuple[float, float]:
    """(best seconds per training step at batch 1, MiB of activations saved for its backward pass)."""
    model = copy.deepcopy(point.model()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = images(1, point.image_size, seed=5)
    labels = torch.ones(1, model.config.num_attributes)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(model(x), labels).backward()
        optimizer.step()

    best = time_interleaved({"train": step}, repeats=repeats)["train"].best
    return best, saved_activation_mib(model, x)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: the growth exponent."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-12)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else float("nan")


def save_plot(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4 * len(results), 6.5), squeeze=False)
    for col, (sweep, series) in enumerate(results.items()):
        for row, (key, label) in enumerate((("s", "seconds per image"), ("mib", "MiB (train: saved act.; Lava: peak PSS)"))):
            ax = axes[row][col]
            for what, marker, name in (("train", "o-", "train step"), ("lava", "s--", "Lava float sim")):
                pts = [(r["x"], r[key]) for r in series.get(what, []) if r[key] > 0 and not math.isnan(r[key])]
                if pts:
                    ax.plot(*zip(*pts), marker, label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("pixels" if sweep == "image size" else sweep)
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
            if row == 0:
                ax.set_title(f"vs {sweep}")
            ax.legend(fontsize=8)
    fig.suptitle("snnpar scaling (width 32, batch 1, CPU)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="training only, two points per sweep at 32x16, T=2 (smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timed training steps per point (default 3; 1 quick)")
    parser.add_argument("--no-lava", action="store_true", help="training only")
    parser.add_argument("--plot", type=Path, default=None, help=f"where to save the plot (default {DEFAULT_PLOT}; "
                        "none with --quick unless given)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared machine "
                        "extra OpenMP threads wait on busy cores and make small ops tens of times slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    plot = args.plot or (None if args.quick else DEFAULT_PLOT)
    lava_note = "disabled (--no-lava)" if args.no_lava else "skipped with --quick (tens of seconds a point)" \
        if args.quick else ""
    cache: dict[tuple[str, Point], dict] = {}
    results: dict[str, dict[str, list[dict]]] = {}
    table = []

    def lava_point(p: Point) -> dict:
        nonlocal lava_note
        if lava_note:
            return {"s": float("nan"), "mib": float("nan")}
        try:
            sim = simulate_once(p.model(), images(1, p.image_size, seed=5), mode="float")
            return {"s": sim.run_s, "mib": sim.peak_mib, "setup": sim.setup_s}
        except Exception as error:  # noqa: BLE001  the table must still show the training sweep
            lava_note = f"FAILED at {p}: {type(error).__name__}: {error}"
        return {"s": float("nan"), "mib": float("nan")}

    plans = [("train", training_sweeps(args.quick))] + ([] if args.quick or args.no_lava else [("lava", lava_sweeps())])
    if len(plans) > 1:
        lava_point(LAVA_BASE)  # warm-up: the first simulation in a process pays one-off costs (imports, caches)
    for what, sweeps in plans:
        for sweep, points in sweeps.items():
            for p in points:
                if (what, p) not in cache:
                    if what == "train":
                        seconds, mib = measure_training(p, repeats)
                        cache[what, p] = {"s": seconds, "mib": mib}
                    else:
                        cache[what, p] = lava_point(p)
                r = {"x": sweep_value(sweep, p), **cache[what, p]}
                results.setdefault(sweep, {}).setdefault(what, []).append(r)
                table.append([what, sweep, f"{p.image_size[0]}x{p.image_size[1]}", p.time_steps, p.depth,
                              r["s"], r.get("setup", float("nan")), r["mib"]])
    print(format_table(
        ["what", "sweep", "image", "T", "depth", "seconds / image", "setup s", "MiB"], table,
        title=f"Scaling, width 32, batch 1, {torch.get_num_threads()} torch threads. train: one training step "
              f"(best of {repeats}), MiB = activations saved for backward; lava: one float simulation after a "
              "warm-up run, seconds = the simulated steps, setup = lower + build + compile, MiB = peak PSS of "
              "all processes",
    ))
    if lava_note:
        print(f"Lava simulation: {lava_note}")
    growth = [[sweep, what, slope([r["x"] for r in rows], [r["s"] for r in rows])]
              for sweep, series in results.items() for what, rows in series.items()
              if all(r["s"] > 0 for r in rows)]
    print(format_table(["sweep", "what", "time growth exponent"], growth,
                       title="Growth exponents (slope of log time vs log swept value; 1 = linear)"))
    if plot:
        save_plot(results, plot)
        print(f"plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
