"""`snnpar export-nir CKPT -o model.nir`: write a trained student checkpoint as a NIR graph.

Only argument handling and a summary; the work is export.export_nir.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write a trained Spikingformer student (a checkpoint from `snnpar train`) as a NIR graph: BatchNorm folded "
        "into convs, Norse LIF as NIR LIF, spike max-pool as SumPool2d+Threshold, residuals as fan-in. SDSA students "
        "are pure NIR; SSA students contain the SpikingSelfAttention extension node (see export/SCHEMA.md) and are "
        "read with export.read_graph. dt, T, input shape/encoding, normalisation and attribute names go into the "
        "graph metadata.")
    parser.add_argument("checkpoint", help="student checkpoint (.pt) written by `snnpar train`")
    parser.add_argument("-o", "--output", required=True, help="NIR file to write, e.g. model.nir (written atomically)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="weight precision in the file; float64 (default) keeps spike-exact agreement with Norse, float32 halves the size")
    parser.add_argument("--portable", action="store_true",
                        help="write only what Norse's, snnTorch's and Sinabs' importers read (Input, Conv2d, LIF, Output; "
                        "dt = 1e-4, snnTorch's), each rewrite exact (export/portable.py); SSA students have no such form "
                        "and are refused, naming the nodes")
    parser.add_argument("--compression", choices=["none", "gzip", "lzf"], default="none", help="HDF5 compression of arrays (default none: weights barely compress)")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from export import export_nir
    from export.provenance import provenance
    from snnpar.atomic_file import check_output_file
    from snnpar.checkpoint import load_model
    from snnpar.errors import UserError

    start = time.perf_counter()
    output = check_output_file(args.output, "-o")
    if Path(args.checkpoint).exists() and output.exists() and output.samefile(args.checkpoint):
        raise UserError(f"-o {output} is the checkpoint itself; writing the graph there would destroy it: give a "
                        ".nir file name")
    model, card = load_model(args.checkpoint)
    if not card.preset.startswith("snnpar"):
        raise UserError(f"{args.checkpoint} holds a {card.preset!r} model; export-nir writes Spikingformer students "
                        "(snnpar-*) only")
    from snnpar.loihi2.formats import FORMATS_KEY

    # a QAT checkpoint carries the Loihi 2 formats it trained with: hw_sim quantises with them (graph metadata)
    trained = {FORMATS_KEY: card.extra[FORMATS_KEY]} if card.extra.get(FORMATS_KEY) else {}
    if trained and args.dtype != "float64":
        raise UserError(f"{args.checkpoint} is a Loihi 2 QAT checkpoint: export it in float64 (the default), so "
                        "the chip's integers are those it trained with; float32 rounds the folded weights")
    if trained and args.portable:
        raise UserError(f"{args.checkpoint} is a Loihi 2 QAT checkpoint: its formats name the standard graph's "
                        "nodes; export it without --portable to run it in Lava fixed point")
    graph = export_nir(model, output, preset=card.preset, attribute_names=card.attribute_names,
                       normalization=card.normalization, dtype=np.dtype(args.dtype),
                       compression=None if args.compression == "none" else args.compression,
                       metadata={**provenance(card, args.checkpoint), **trained}, portable=args.portable)
    size = output.stat().st_size
    meta = graph.metadata
    print(f"wrote {args.output}: {len(graph.nodes)} nodes, {len(graph.edges)} edges, {size / 2**20:.1f} MiB, "
          f"attention {meta['attention']}, T={meta['time_steps']}, dt={meta['dt']}, weights {card.fingerprint}, "
          f"{time.perf_counter() - start:.1f} s")
    if meta.get("portable"):
        print("portable: only Input, Conv2d, LIF and Output nodes (run other tools with dt = 1e-4; e.g. "
              "norse.torch.from_nir(nir.read(path), dt=1e-4))")
        for name, why in (meta.get("portable_caveats") or {}).items():
            print(f"  caveat: {name} {why}")
    if meta["extensions"]:
        print(f"extension nodes {meta['extensions']}: read with export.read_graph (plain nir.read cannot)")
    return 0
