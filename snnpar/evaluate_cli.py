"""`snnpar eval CKPT --data NAME --root DIR`: the Table 1 row of a checkpoint and its per-attribute table.

`--backend loihi2-fixed` scores the network the chip runs instead of the float model: the student exported,
lowered and in Loihi 2 fixed point (a QAT checkpoint: its trained formats; a float one: its post-training
quantisation), evaluated by the batched integer evaluator, which Lava's fixed-point run equals bit for bit.
This command is a composition root: it imports hw_sim only for that backend.
"""

from __future__ import annotations

import argparse
from pathlib import Path

BACKENDS = ("float", "loihi2-fixed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="a model checkpoint (best.pt or last.pt of `snnpar train`)")
    parser.add_argument("--data", required=True, help="data set name: pa100k, peta, rap or synthetic")
    parser.add_argument("--root", required=True, help="folder holding the data set")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    parser.add_argument("--partition", type=int, default=0,
                        help="which of PETA's / RAPv1's five standard partitions, 0..4 (default 0)")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write attributes.csv and metrics.csv (default: CKPT's folder/eval-SPLIT)")
    parser.add_argument("--threshold", type=float, help="probability above which an attribute is predicted present "
                        "(default: 0.5 with --definition rethinking, 0.45 with vtb)")
    parser.add_argument("--definition", choices=["rethinking", "vtb"], default="rethinking",
                        help="metric definitions: Rethinking_of_PAR's (default) or VTB / SNN-PAR code's "
                             "(threshold 0.45, mean of per-sample F1)")
    parser.add_argument("--backend", choices=BACKENDS, default="float",
                        help="float: the model as trained (default); loihi2-fixed: the student as Loihi 2 runs it "
                             "(integer evaluator, equal to Lava fixed point)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--num-workers", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from snnpar.atomic_file import check_output_folder
    from snnpar.evaluate import (
        TABLE1_COLUMNS,
        evaluate_checkpoint,
        format_table,
        table1_row,
        write_csv,
        write_text,
    )

    out = Path(args.out) if args.out else Path(args.checkpoint).parent / f"eval-{args.split}"
    check_output_folder(out, "--out" if args.out else "the default --out (CKPT's folder/eval-SPLIT)")
    deploy = None
    if args.backend == "loihi2-fixed":
        from hw_sim.chip.deployment import chip_model as deploy
    result = evaluate_checkpoint(args.checkpoint, args.data, args.root, args.split, args.threshold,
                                 args.definition, args.batch_size, args.device, args.num_workers, deploy,
                                 progress=args.progress, partition_index=args.partition)
    row = {"model": result.preset, "backend": args.backend, **table1_row(result.metrics)}
    threshold = result.metrics.threshold
    write_csv([{"checkpoint": str(args.checkpoint), "data": args.data, "split": args.split,
                "definition": args.definition, "threshold": threshold, **row}], out / "metrics.csv")
    write_text(result.metrics.per_attribute_table(result.attribute_names, fmt="csv"), out / "attributes.csv")
    print(f"{args.data} {args.split} split, {len(result.labels)} images, threshold {threshold}, backend {args.backend}:")
    print(format_table([row], ("model", *TABLE1_COLUMNS)))
    print(f"per-attribute table: {out / 'attributes.csv'}")
    return 0
