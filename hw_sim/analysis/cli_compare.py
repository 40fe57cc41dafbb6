"""`snnpar compare`: Norse vs the Lava simulation (float and fixed point), spike by spike, layer by layer.

Lava fixed point is also checked against the integer evaluator (they must be equal); with `--qat QAT_CKPT`
the QAT student's own forward against both. Then, on the whole split, the float student's mA beside its
post-training-quantised mA on the chip and the QAT student's (integer evaluator, as `snnpar eval --backend
loihi2-fixed`).

Writes `fidelity.json` (machines), `fidelity.txt` (people) and `fidelity.png` (match rate per layer)
into --out, and prints the tables. Runs the student in float64, as the exported graph is.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="student checkpoint (.pt) written by `snnpar train`")
    parser.add_argument("--nir", required=True, type=Path, help="the same student as a NIR graph (`snnpar export-nir`)")
    parser.add_argument("--data", required=True, help="data set name: synthetic | pa100k | peta | rap")
    parser.add_argument("--root", required=True, type=Path, help="data set folder")
    parser.add_argument("--split", default="test", help="split to take images from (default: test)")
    parser.add_argument("--n", type=int, default=4, metavar="K", help="number of images (default 4; Lava runs each one)")
    parser.add_argument("--modes", nargs="+", choices=("float", "fixed"), default=["float", "fixed"],
                        help="Lava precisions to compare (default: both)")
    parser.add_argument("--qat", type=Path, metavar="QAT_CKPT",
                        help="also a QAT checkpoint of the student (`snnpar train --qat loihi2`): its QAT forward vs Lava "
                             "fixed point and the integer evaluator per layer, and its mA on the chip")
    parser.add_argument("--no-split", dest="split_table", action="store_false",
                        help="skip the whole-split table (float, post-training quantised and QAT mA)")
    parser.add_argument("--out", required=True, type=Path, help="folder for fidelity.json, fidelity.txt, fidelity.png")


def run(args: argparse.Namespace) -> int:
    import torch

    from export import read_graph
    from export.provenance import check_graph_matches_checkpoint
    from hw_sim.analysis.compare import (
        compare_checkpoint,
        compare_qat,
        split_accuracy,
        split_table,
        write_json,
    )
    from hw_sim.analysis.plots import draw_fidelity, save_figure
    from snnpar.atomic_file import check_output_folder
    from snnpar.checkpoint import load_model
    from snnpar.data import load_dataset
    from snnpar.errors import UserError
    from snnpar.evaluate import write_text

    check_output_folder(args.out, "--out")
    if args.qat is not None and not args.qat.exists():
        raise UserError(f"QAT checkpoint {args.qat} does not exist; train one with `snnpar train ... --qat loihi2`")
    model, card = load_model(args.checkpoint)
    graph = read_graph(args.nir)
    check_graph_matches_checkpoint(graph, card, model.config, args.nir, args.checkpoint)
    data = load_dataset(args.data, args.root, args.split, image_size=tuple(model.config.image_size),
                        normalization=card.normalization)
    n = min(args.n, len(data))
    if n == 0:
        raise UserError(f"split {args.split!r} of {args.root} has no images; choose another --split")
    images = torch.stack([data[i][0] for i in range(n)]).double()
    reports = compare_checkpoint(args.checkpoint, args.nir, images, modes=tuple(args.modes))
    if args.qat is not None:
        reports += compare_qat(args.qat, images)
    text = "\n\n".join(r.table() for r in reports)
    splits = []
    if args.split_table:
        splits = split_accuracy(args.checkpoint, args.data, args.root, args.split, args.qat)
        text += "\n\n" + split_table(splits)
    print(text)
    write_json({"checkpoint": str(args.checkpoint), "nir": str(args.nir), "reports": [r.to_dict() for r in reports],
                "split": [{"form": r.name, "checkpoint": r.checkpoint, "backend": r.backend, "images": r.images,
                           **r.metrics} for r in splits]}, args.out / "fidelity.json")
    write_text(text + "\n", args.out / "fidelity.txt")
    match = {f"{r.candidate} vs {r.reference}": {f.layer: f.spike_match_rate for f in r.layers} for r in reports}
    save_figure(draw_fidelity(match), args.out / "fidelity.png")
    print(f"wrote {args.out}/fidelity.json, fidelity.txt, fidelity.png")
    return 0
