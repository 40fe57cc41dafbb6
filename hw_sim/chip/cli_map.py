"""`snnpar map`: does a NIR graph fit a neuromorphic chip, on how many cores and chips, and what is not native.

Reads a graph file (`snnpar export-nir`), or builds a preset's graph in memory from an untrained model
(`--preset snnpar-8-768`: the mapping depends on shapes and nonzero weights only, so no 500 MB file is
needed), maps it with `hw_sim.chip.mapping.map_graph` onto a chip profile (`--chip loihi2`, `loihi`, or a
.toml file), prints the per-layer table and the verdict, and writes the whole mapping as JSON (`--out`).
A graph that cannot fit even the chip's largest board is reported, then ends as a user error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hw_sim.chip.profile import known_chips
from snnpar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", nargs="?", type=Path, help="NIR graph file written by `snnpar export-nir`")
    parser.add_argument("--preset", metavar="NAME", help="instead of a file: a student preset (e.g. snnpar-8-768), built "
                        "untrained in memory")
    parser.add_argument("--attention", choices=("ssa", "sdsa"), help="with --preset: the attention mode (default: the preset's)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="with --preset: input size")
    parser.add_argument("--time-steps", type=int, metavar="T", help="with --preset: time steps")
    parser.add_argument("--attributes", type=int, default=26, help="with --preset: outputs (default 26, PA100K)")
    parser.add_argument("--chip", default="loihi2", help=f"chip profile: {', '.join(known_chips())}, or a .toml file (default loihi2)")
    parser.add_argument("--weight-bits", type=int, help="bits per stored weight (default: the chip's largest, 8 on Loihi and Loihi 2)")
    parser.add_argument("--no-shared-weights", action="store_true",
                        help="store every convolution synapse explicitly, even where the chip shares kernels")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="what-if: replace a figure of the profile (e.g. core.fan_in_axons=65536); marked in the report")
    parser.add_argument("--out", type=Path, help="also write the mapping as JSON here")


def parse_overrides(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise UserError(f"--set {item!r}: expected SECTION.FIELD=NUMBER, e.g. core.fan_in_axons=65536") from None
    return out


def preset_graph(preset: str, attributes: int = 26, attention: str | None = None, image_size=None, time_steps=None):
    """A student preset's NIR graph from an untrained model, in memory (float32 weights)."""
    import numpy as np
    import torch

    import snnpar.models.presets  # noqa: F401  (registers the presets)
    from export import lower_spikingformer
    from export.lowering import UnsupportedModuleError
    from snnpar.models.registry import create_model

    kwargs = {"num_attributes": attributes}
    for key, value in (("attention", attention), ("image_size", tuple(image_size) if image_size else None),
                       ("time_steps", time_steps)):
        if value is not None:
            kwargs[key] = value
    try:
        with torch.no_grad():
            model = create_model(preset, **kwargs).eval()
    except (KeyError, ValueError) as err:  # an unknown preset or a bad size for it
        raise UserError(f"--preset {preset!r}: {err}") from None
    try:
        return lower_spikingformer(model, dtype=np.float32, metadata={"preset": preset})
    except UnsupportedModuleError as err:
        raise UserError(f"--preset {preset!r} is not a spiking student: {err}") from None


def run(args: argparse.Namespace) -> int:
    import json

    from hw_sim.chip.mapping import map_graph
    from hw_sim.chip.profile import load_chip
    from snnpar.atomic_file import atomic_output

    if (args.graph is None) == (args.preset is None):
        raise UserError("give either a NIR graph file or --preset NAME (e.g. snnpar map student.nir, or snnpar map --preset snnpar-8-768)")
    chip = load_chip(args.chip, parse_overrides(args.set))
    if args.preset:
        graph = preset_graph(args.preset, args.attributes, args.attention, args.image_size, args.time_steps)
        what = f"{args.preset} (untrained, built in memory)"
    else:
        from export import read_graph

        graph = read_graph(args.graph)
        what = str(args.graph)
    mapping = map_graph(graph, chip, weight_bits=args.weight_bits, shared_weights=False if args.no_shared_weights else None)
    print(f"{what} on {chip.title} ({chip.path}), {mapping.weight_bits}-bit weights, "
          f"convolution kernels {'shared' if mapping.shared_weights else 'stored per synapse'}:")
    print(mapping.table())
    if chip.unpublished():
        print(f"figures not published for this chip (carried over or set by hand): {', '.join(chip.unpublished())}")
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps({"graph": what, **mapping.to_dict()}, indent=2, default=float))
        print(f"wrote {args.out}")
    if not mapping.fits_board:
        board = chip.largest_board
        raise UserError(f"the graph does not fit even the largest {chip.title} board"
                        f"{f' ({board.name}, {board.chips} chips)' if board else ''}: {mapping.verdict()}")
    return 0
