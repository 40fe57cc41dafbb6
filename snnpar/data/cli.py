"""`snnpar data`: generate the synthetic pedestrian set, or print what a PAR data set holds.

    snnpar data synth --out DIR --n 2000 [--seed 0 --height 128 --width 64]
    snnpar data info --data pa100k --root DIR [--split train --partition 0 --format mat]

Only argument handling and printing live here; the work is in `synthetic` and `dataset`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from snnpar.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    synth = sub.add_parser(
        "synth",
        help="draw the synthetic pedestrian data set (PA100K layout, 26 attributes)",
        description="Draw procedurally generated pedestrians carrying PA100K's 26 attributes and write them "
        "as DIR/annotation.mat + DIR/data/*.jpg (80/10/10 train/val/test), readable with --data synthetic "
        "or --data pa100k. Deterministic for a seed; an identical existing set is reused.",
    )
    synth.add_argument("--out", required=True, type=Path, help="folder to write (created atomically)")
    synth.add_argument("--n", type=int, default=2000, help="number of images (default 2000)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--height", type=int, default=128, help="image height in pixels (default 128; the paper uses 256)"
    )
    synth.add_argument(
        "--width", type=int, default=64, help="image width in pixels (default 64; the paper uses 128)"
    )
    synth.add_argument("--force", action="store_true", help="regenerate even if an identical set exists")

    info = sub.add_parser(
        "info",
        help="counts and positive ratios of a PAR data set",
        description="Read a data set's annotation (original .mat or the preprocessed pickle) and print the "
        "number of images per split and each attribute's positive ratio.",
    )
    info.add_argument("--data", required=True, help="synthetic | pa100k | peta | rap")
    info.add_argument("--root", required=True, type=Path, help="folder that holds the annotation and images")
    info.add_argument(
        "--split", default=None, help="train | val | trainval | test (default: all the data set has)"
    )
    info.add_argument("--partition", type=int, default=0, help="PETA/RAP partition 0-4 (default 0)")
    info.add_argument("--format", dest="label_format", choices=["mat", "pickle"], default=None,
                      help="annotation format (default: auto-detect)")  # fmt: skip
    parser.set_defaults(_data_parser=parser)


def _ratio_table(names: list[str], labels: np.ndarray) -> str:
    ratios = labels.mean(axis=0) if len(labels) else np.zeros(len(names))
    width = max(len(n) for n in names)
    return "\n".join(f"  {n:<{width}}  {r:6.3f}  {'#' * int(round(r * 40))}" for n, r in zip(names, ratios))


def run_synth(args: argparse.Namespace) -> int:
    from snnpar.atomic_file import check_output_folder
    from snnpar.data.attributes import PA100K_ATTRIBUTES
    from snnpar.data.formats import read_pa100k_mat
    from snnpar.data.synthetic import MARKER, generate

    check_output_folder(args.out, "--out")
    marker = args.out / MARKER
    before = marker.stat().st_mtime_ns if marker.is_file() else None
    start = time.perf_counter()
    out = generate(args.out, args.n, seed=args.seed, image_size=(args.height, args.width), force=args.force)
    elapsed = time.perf_counter() - start
    reused = before is not None and marker.stat().st_mtime_ns == before
    annotation = read_pa100k_mat(out / "annotation.mat")
    sizes = {s: len(v[0]) for s, v in annotation.partitions.items() if s != "trainval"}
    if reused:
        print(f"reused the identical synthetic set at {out} (use --force to redraw)")
    else:
        print(f"wrote {args.n} images ({args.height}x{args.width}) to {out} in {elapsed:.2f} s: "
              f"{args.n / max(elapsed, 1e-9):.0f} images/second")  # fmt: skip
    print("splits: " + ", ".join(f"{s} {n}" for s, n in sizes.items()))
    print(f"positive ratio of the {len(PA100K_ATTRIBUTES)} attributes (all splits):")
    print(_ratio_table(annotation.attribute_names, annotation.labels))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from snnpar.data.dataset import SPLITS, canonical_name
    from snnpar.data.formats import find_annotation, read_annotation

    kind = canonical_name(args.data)
    reader_kind = "pa100k" if kind == "synthetic" else kind
    if not args.root.is_dir():
        raise UserError(f"data root {args.root} {'is a file' if args.root.exists() else 'does not exist'}; pass the "
                        "folder that holds the annotation")
    fmt, path = find_annotation(reader_kind, args.root, args.label_format)
    annotation = read_annotation(reader_kind, args.root, args.label_format)
    print(
        f"{args.data}: {path} ({fmt}), {len(annotation.image_names)} images, {len(annotation.attribute_names)} attributes"
    )
    splits = [args.split] if args.split else [s for s in SPLITS if s in annotation.partitions]
    for split in splits:
        if split not in annotation.partitions:
            raise UserError(f"--split: {path} has no {split!r} split (it has: {', '.join(annotation.partitions)})")
        runs = annotation.partitions[split]
        if not 0 <= args.partition < len(runs):
            raise UserError(f"--partition {args.partition} is out of range: {path} has partitions 0..{len(runs) - 1}")
        print(
            f"  {split:<8} {len(runs[args.partition]):>7} images"
            + (f"  (partition {args.partition} of {len(runs)})" if len(runs) > 1 else "")
        )
    shown = args.split or ("trainval" if "trainval" in annotation.partitions else splits[0])
    idx = annotation.partitions[shown][args.partition]
    print(f"positive ratio per attribute on {shown}:")
    print(_ratio_table(annotation.attribute_names, annotation.labels[idx]))
    marker = args.root / "synthetic.json"
    if kind == "synthetic" and marker.is_file():
        print(_visibility_table(json.loads(marker.read_text())))
    return 0


def _visibility_table(config: dict) -> str:
    """How visible each attribute's cue is in the synthetic set: its ceiling, from the generator itself."""
    from snnpar.data.synthetic import VISIBLE_STEP, cue_visibility

    size = tuple(config.get("image_size", (128, 64)))
    vis = cue_visibility(int(config.get("seed", 0)), n=32, image_size=size)
    lines = [f"cue visibility (32 images drawn twice, attribute on / off, same randomness; a pixel shows the cue "
             f"where it changes by >= {VISIBLE_STEP} grey levels), smallest first:",
             f"  {'attribute':<20} {'area %':>7} {'contrast':>8} {'hidden %':>8}"]
    for name, v in sorted(vis.items(), key=lambda kv: kv[1]["area"]):
        lines.append(f"  {name:<20} {100 * v['area']:7.2f} {v['contrast']:8.1f} {100 * v['hidden']:8.1f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "data_command", None)
    if command is None:
        args._data_parser.print_help()
        return 2
    return run_synth(args) if command == "synth" else run_info(args)
