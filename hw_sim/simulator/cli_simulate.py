"""`snnpar simulate`: run a NIR graph in Lava (Loihi 2 simulation) on images and print the attributes.

Loads images from files (--images) or a data set (--data/--root/--n), runs `hw_sim.run` in float or fixed
point, prints per-layer firing rates, timings and predicted attributes, and with --out writes
spikes.npz and summary.json (atomically). It does not compare with Norse (see `snnpar compare`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a NIR graph (from `snnpar export-nir`, or any graph of Conv/Affine/Linear/SumPool2d/LIF/IF/LI/"
        "CubaLIF/CubaLI/Threshold nodes, recurrent edges included) in Lava's Loihi 2 simulator on a few images: float (floating_pt, spike-exact against "
        "the graph) or fixed (Loihi 2 integer formats). Prints each neuron layer's depth (Lava steps behind the "
        "graph) and firing rate, the number of Lava processes, wall time, peak memory and the predicted "
        "attributes. Example: snnpar simulate model.nir --images a.png b.png --mode float --out sim/")
    parser.add_argument("model", help="NIR file written by `snnpar export-nir` (or any NIR graph)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", metavar="IMG", help="image files, resized to the graph's input size")
    src.add_argument("--data", metavar="NAME", help="data set name (synthetic, pa100k, ...), with --root and --n")
    parser.add_argument("--root", help="data set folder (with --data)")
    parser.add_argument("--split", default="test", help="data set split (default: test)")
    parser.add_argument("--n", type=int, default=4, help="number of data set images (default: 4)")
    parser.add_argument("--mode", choices=["float", "fixed"], default="float",
                        help="Lava floating_pt or Loihi 2 fixed_pt models (default: float)")
    parser.add_argument("--T", type=int, default=None, help="time steps (default: the graph's metadata)")
    parser.add_argument("--dt", type=float, default=None,
                        help="time step in seconds, for graphs whose metadata has none (snnTorch's export assumes "
                        "1e-4, Sinabs writes discrete-time graphs: 1); an error where it contradicts the metadata")
    parser.add_argument("--reset", choices=["zero", "subtract"], default=None,
                        help="reset after a spike: zero (NIR's v <- v_reset, the default) or subtract (v <- v - "
                        "v_threshold, for networks trained with it; snnTorch's export stores v_reset = 0 either way, "
                        "and leaving --reset out of such a graph warns)")
    parser.add_argument("--out", help="folder for spikes.npz and summary.json")
    parser.add_argument("--no-fuse", action="store_true", help="one Lava process per layer instead of one per "
                        "chain of layers (same results, slower; for inspecting single processes)")


def _load_images(args, shape, meta):
    import numpy as np

    from snnpar.errors import UserError

    if args.data:
        from snnpar.data import load_dataset

        if not args.root:
            raise UserError("--data needs --root DIR (the folder that holds the data set)")
        ds = load_dataset(args.data, args.root, args.split, image_size=tuple(shape[1:]),
                          normalization=meta.get("normalization"))
        n = min(args.n, len(ds))
        if n == 0:
            raise UserError(f"split {args.split!r} of {args.root} holds no images; choose another --split")
        return np.stack([ds[i][0].numpy() for i in range(n)]), list(getattr(ds, "attribute_names", []))
    from PIL import Image

    from snnpar.data import NORMALIZATION

    norm = meta.get("normalization") or NORMALIZATION  # the graph's own, else the project's (as training uses)
    mean, std = np.asarray(norm["mean"])[:, None, None], np.asarray(norm["std"])[:, None, None]
    out = []
    for path in args.images:
        try:
            with Image.open(path) as img:
                pixels = img.convert("RGB").resize((shape[2], shape[1]))
        except (OSError, SyntaxError, ValueError) as err:  # missing, a folder, not an image, truncated
            raise UserError(f"cannot read image {path}: {err}; give a whole PNG or JPEG file") from err
        out.append((np.asarray(pixels, dtype=np.float64).transpose(2, 0, 1) / 255.0 - mean) / std)
    return np.stack(out), list(meta.get("attribute_names") or [])


def silent_layers(graph, spikes: dict) -> list[str]:
    """The spiking layers (LIF, IF, CubaLIF) without a single spike over the whole run."""
    from export.executor import SPIKING_NODES

    return [name for name, s in spikes.items() if isinstance(graph.nodes.get(name), SPIKING_NODES) and not s.any()]


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from hw_sim.simulator.simulation import input_shape, load_graph
    from hw_sim.simulator.simulation import run as simulate
    from snnpar.atomic_file import atomic_output, check_output_folder

    if args.out:
        check_output_folder(args.out, "--out")
    graph = load_graph(args.model)
    meta = dict(graph.metadata or {})
    shape = input_shape(graph, args.model)
    images, names = _load_images(args, shape, meta)
    result = simulate(graph, images, mode=args.mode, T=args.T, dt=args.dt, fuse=not args.no_fuse, source=args.model,
                      reset=args.reset)
    silent = silent_layers(graph, result.spikes)
    for name, s in result.spikes.items():
        print(f"{name:40s} depth {result.depth[name]:3d}  rate {s.mean():.4f}{'  NO SPIKES' if name in silent else ''}")
    if silent:
        print(f"warning: {len(silent)} spiking layers produced no spike at all in {args.T or meta.get('time_steps')} "
              f"steps: {', '.join(silent)}; check --dt (a discrete-time graph such as Sinabs' needs --dt 1), the "
              "input scale and the thresholds")
    print(f"{result.num_processes} Lava processes, {result.timings['total_s']:.1f} s, "
          f"peak {result.peak_memory_mb:.0f} MB")
    for b, pred in enumerate(result.predictions):
        on = [names[i] if i < len(names) else str(i) for i in np.flatnonzero(pred)]
        print(f"image {b}: {', '.join(on) or '(none)'}")
    if args.out:
        out = Path(args.out)
        for fname, writer in (("spikes.npz", lambda f: np.savez_compressed(f, **result.spikes)),
                              ("summary.json", lambda f: f.write(json.dumps({
                                  "mode": args.mode, "reset": args.reset or "zero", "logits": result.logits.tolist(), "attribute_names": names,
                                  "predictions": result.predictions.astype(int).tolist(), "depth": result.depth,
                                  "timings": result.timings, "num_processes": result.num_processes}, indent=1)
                                  .encode()))):
            with atomic_output(out / fname) as tmp, tmp.open("wb") as f:
                writer(f)
    return 0
