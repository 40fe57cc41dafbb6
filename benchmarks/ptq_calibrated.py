"""Post-training quantisation of a student, worst-case rule against the data-calibrated rule: spikes of the integer
evaluator against the float network (the NIR executor, float64) per spiking layer, on a few images.

The last column is the yardstick: the float network itself with every weight multiplied by (1 + 1e-3 N(0, 1)), a
perturbation ten times smaller than 8-bit rounding. An untrained student is chaotic: a flipped spike changes the
layers after it, so spike match falls with depth whatever the arithmetic. The student is untrained with calibrated BatchNorm (workloads.py); the scales are calibrated on images other than
the ones compared. No Lava here (8-768 in Lava takes far too long); the evaluator equals Lava fixed point bit for
bit (tests/hw_sim/chip).

    .venv/bin/python benchmarks/ptq_calibrated.py                                   # snnpar-8-768 256x128 T=8
    .venv/bin/python benchmarks/ptq_calibrated.py --preset snnpar-tiny --size 128x64 --T 4
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="spiking layers")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import format_table  # noqa: E402
from workloads import calibrate_batchnorm, images, student  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="snnpar-8-768")
    parser.add_argument("--size", default="256x128")
    parser.add_argument("--T", type=int, default=8)
    parser.add_argument("--calibration", type=int, default=4, help="calibration images (default 4)")
    parser.add_argument("--images", type=int, default=2, help="images compared (default 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noise", type=float, default=1e-3, help="relative weight noise of the float yardstick")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from export import export_nir
    from export.executor import run_graph
    from hw_sim.chip.integer_evaluator import IntegerEvaluator
    from hw_sim.chip.quantize import calibrate, nominal_input_range, quantize
    from hw_sim.simulator.lowering import Neurons, lower
    from snnpar.errors import UserError

    size = tuple(int(s) for s in args.size.split("x"))
    model = calibrate_batchnorm(student(args.preset, size, args.T), size, batches=1, batch=2)
    with tempfile.TemporaryDirectory(prefix="snnpar-ptq-") as tmp:
        graph = export_nir(model, Path(tmp) / "model.nir")
    net = lower(graph)
    x = images(args.images, size, seed=9)
    input_range = nominal_input_range(net.metadata.get("normalization")) or float(x.abs().max())
    start = time.perf_counter()
    calibration = calibrate(graph, net, images(args.calibration, size, seed=77), T=args.T)
    calibrate_s = time.perf_counter() - start
    quants = {"calibrated": quantize(net, input_range=input_range, calibration=calibration)}
    try:
        quants["worst-case"] = quantize(net, input_range=input_range)
    except UserError as refused:
        print(f"worst-case rule: REFUSED: {refused}")
    layers = [n for n, node in net.nodes.items() if isinstance(node, Neurons) and node.spiking]
    noisy = copy.deepcopy(graph)
    rng = np.random.default_rng(0)
    for node in noisy.nodes.values():
        w = getattr(node, "weight", None)
        if isinstance(w, np.ndarray) and w.ndim >= 2:
            node.weight = w * (1 + args.noise * rng.standard_normal(w.shape))

    def float_spikes(g):
        spikes, logits = {n: [] for n in layers}, []
        for b in range(args.images):  # one image at a time: the float64 run of every layer is large
            out = run_graph(g, x[b:b + 1], T=args.T, keep=[*layers, "output"])
            for n in layers:
                spikes[n].append(out[n].to(torch.uint8))
            logits.append(out["output"].mean(0).flatten(1))
        return {n: torch.cat(v, dim=1) for n, v in spikes.items()}, torch.cat(logits)

    ref, ref_logits = float_spikes(graph)
    perturbed, perturbed_logits = float_spikes(noisy)
    rows = []
    runs = {rule: IntegerEvaluator(net, q).run(x, record=layers) for rule, q in quants.items()}
    for n in layers:
        row = [n, quants["calibrated"].neurons[n].scale, float(ref[n].float().mean())]
        for rule in ("calibrated", "worst-case"):
            if rule in runs:
                fixed = runs[rule].spikes[n]
                row += [float(fixed.float().mean()), float((fixed == ref[n]).float().mean())]
            else:
                row += ["refused", "refused"]
        rows.append([*row, float((perturbed[n] == ref[n]).float().mean())])
    agree = {rule: float(((r.logits > 0) == (ref_logits > 0)).float().mean()) for rule, r in runs.items()}
    agree[f"float with {args.noise:g} weight noise"] = float(((perturbed_logits > 0) == (ref_logits > 0)).float().mean())
    print(format_table(["layer", "calibrated S", "float rate", "calibrated rate", "calibrated match", "worst-case rate",
                        "worst-case match", f"float, {args.noise:g} weight noise: match"], rows,
                       title=f"{args.preset} {size[0]}x{size[1]} T={args.T}, untrained BN-calibrated: integer evaluator "
                             f"vs float (NIR executor) spikes per layer, {args.images} images; scales calibrated on "
                             f"{args.calibration} other images ({calibrate_s:.0f} s)"))
    print("mean spike match over layers: " + ", ".join(
        f"{rule} {np.mean([r[4 if rule == 'calibrated' else 6] for r in rows]):.4f}" for rule in runs)
        + f", float with {args.noise:g} weight noise {np.mean([r[7] for r in rows]):.4f}")
    print("attribute decisions equal to float: " + ", ".join(f"{rule} {a:.4f}" for rule, a in agree.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
