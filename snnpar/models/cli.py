"""`snnpar params`: learnable parameters and forward FLOPs of model presets (Table 4 of the paper).

Models are built on PyTorch's meta device, so even ViT-B/16 and the 8-768 student are counted in
about a second without allocating their weights or doing any arithmetic. It prints; it trains nothing.
"""

from __future__ import annotations

import argparse

from snnpar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the learnable parameters (millions) and forward FLOPs per image of model presets, as a table. "
        "FLOPs = 2 x multiply-accumulates of convolutions, linear layers and matrix products, counted by "
        "torch.utils.flop_counter; for spiking students it is the dense count over all T time steps."
    )
    parser.add_argument("presets", nargs="*", metavar="PRESET",
                        help="preset names (default: every preset); e.g. snnpar-8-768 vtb-b16 vit-8-768")
    parser.add_argument("--attributes", type=int, default=26, metavar="A",
                        help="number of attributes, i.e. outputs (default: 26, PA100K; 1000 gives ImageNet figures)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="input height and width, each divisible by 16 (default: each preset's own)")


def run(args: argparse.Namespace) -> int:
    import torch

    from snnpar.models.flops import count_flops, count_parameters
    from snnpar.models.registry import create_model, list_models, model_kind

    names = args.presets or list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise UserError(f"unknown preset(s) {', '.join(unknown)}; known: {', '.join(list_models())}")
    overrides = {"num_attributes": args.attributes}
    if args.image_size:
        overrides["image_size"] = tuple(args.image_size)

    rows = []
    for name in names:
        try:
            with torch.device("meta"):
                model = create_model(name, **overrides)
        except ValueError as err:  # an override the preset cannot take (e.g. an image size not divisible by 16)
            raise UserError(f"{name}: {err}") from err
        cfg = model.config
        steps = getattr(cfg, "time_steps", None)
        rows.append((
            name, model_kind(name), f"{cfg.image_size[0]}x{cfg.image_size[1]}", "-" if steps is None else str(steps),
            f"{count_parameters(model) / 1e6:.2f}", f"{count_parameters(model):,}",
            format_flops(count_flops(model)),
        ))
    header = ("preset", "kind", "input", "T", "params (M)", "params", "FLOPs/image")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    print(f"learnable parameters and forward FLOPs (2 x MACs) with {args.attributes} attributes")
    for i, row in enumerate((header, *rows)):
        print("  ".join(c.ljust(w) if j < 4 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def format_flops(flops: int) -> str:
    """195.84 G, 28.31 M, ...: readable at every preset's scale."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.2f} {unit}"
    return str(flops)
