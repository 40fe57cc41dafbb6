"""`snnpar predict CKPT IMAGE...`: the attributes of each image with their probabilities, optionally drawn (Fig. 3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from snnpar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="a model checkpoint (best.pt of `snnpar train`)")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files (any size; resized to the model's input)")
    parser.add_argument("--threshold", type=float, default=0.5, help="print attributes with p >= this (default 0.5)")
    parser.add_argument("--all", action="store_true", help="print every attribute, not only those above the threshold")
    parser.add_argument("--draw", metavar="OUT_DIR", help="save each image with its predicted attributes as OUT_DIR/NAME.png")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from snnpar.atomic_file import check_output_folder
    from snnpar.predict import draw_prediction, predict_checkpoint

    if args.draw:
        check_output_folder(args.draw, "--draw")
    unreadable: list[UserError] = []
    predictions = predict_checkpoint(args.checkpoint, args.images, args.threshold, args.device, unreadable)
    for pred in predictions:
        print(f"{pred.image}:")
        items = sorted(pred.probabilities.items(), key=lambda kv: -kv[1]) if args.all else pred.present
        for name, p in items:
            print(f"  {name:<24s} {p:.3f}")
        if not items:
            print(f"  (no attribute with p >= {args.threshold})")
        if args.draw:
            path = draw_prediction(pred, Path(args.draw) / f"{pred.image.stem}.png")
            print(f"  drawn: {path}")
    if unreadable:  # the readable images are done; the others are the user's to fix
        detail = unreadable[0] if len(unreadable) == 1 else f"{len(unreadable)} of {len(args.images)} images: " + \
            "; ".join(str(e) for e in unreadable[:3]) + (" ..." if len(unreadable) > 3 else "")
        raise UserError(str(detail))
    return 0
