"""`snnpar import`: a reference checkpoint (VTB, SNN-PAR, Spikingformer) as an snnpar checkpoint.

The file is read weights-only, its layout recognised (or given with --layout), every tensor mapped into our
VTB teacher or Spikingformer student (`snnpar.models.reference_import`), and the report printed: each key
mapped, dropped (with the reason) or missing. A missing or unknown key stops the import; nothing is written
then. The result is an ordinary snnpar checkpoint for `snnpar eval`, `export-nir`, `train --teacher`.
SNN-PAR's checkpoints hold the teacher and the student: --part chooses which one to import.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnpar.errors import UserError

DEFAULT_PRESETS = {"teacher": "vtb-b16", "student": "snnpar-8-768"}
DATA_ATTRIBUTES = ("pa100k", "peta", "rap")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="the reference .pth file")
    parser.add_argument("--out", required=True, help="the snnpar checkpoint to write (.pt)")
    parser.add_argument("--layout", choices=["auto", "vtb", "snn-par", "spikingformer"], default="auto",
                        help="the file's key layout (default: recognised from its keys)")
    parser.add_argument("--part", choices=["student", "teacher"],
                        help="for an SNN-PAR file, which model to import (default student)")
    parser.add_argument("--model", help="snnpar preset to fill (default vtb-b16 for a teacher, snnpar-8-768 for a student)")
    parser.add_argument("--data", choices=DATA_ATTRIBUTES, default="pa100k",
                        help="the data set the checkpoint was trained on: names its attributes (default pa100k)")
    parser.add_argument("--time-steps", type=int, help="student time steps T (not in the weights; SNN-PAR uses 8)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="input size (default the preset's)")
    parser.add_argument("--text-vectors", metavar="FILE",
                        help="a teacher's attribute vectors (VTB keeps them in its data set pickle, not the checkpoint)")


def _build_kwargs(kwargs: dict) -> dict:
    """The card's kwargs (JSON: lists) as the preset takes them (tuples)."""
    return {**kwargs, "image_size": tuple(kwargs["image_size"])} if "image_size" in kwargs else kwargs


def import_checkpoint(path: str | Path, out: str | Path, *, layout: str = "auto", part: str | None = None,
                      preset: str | None = None, data: str = "pa100k", time_steps: int | None = None,
                      image_size: tuple[int, int] | None = None, text_vectors: str | None = None,
                      overrides: dict | None = None):
    """Read, map, load strictly and save; returns (the model, the ImportReport). `overrides`: more preset
    options (e.g. embed_dim, depth, num_heads for a model of another size)."""
    from snnpar.checkpoint import ModelCard, save_checkpoint
    from snnpar.data.attributes import ATTRIBUTES
    from snnpar.data.transforms import NORMALIZATION
    from snnpar.models import create_model, model_kind
    from snnpar.models.reference_import import (
        STUDENT_PREFIX,
        detect_layout,
        load_mapped,
        map_student,
        map_vtb,
        read_reference_checkpoint,
    )
    from snnpar.models.text_vectors import read_text_vectors

    path = Path(path)
    state = read_reference_checkpoint(path)
    found = detect_layout(state, path)
    if layout != "auto" and layout != found:
        raise UserError(f"{path} has the {found!r} key layout, not {layout!r}; pass --layout {found} or auto")
    if part is None:
        part = "teacher" if found == "vtb" else "student"
    if found == "vtb" and part == "student":
        raise UserError(f"{path} is a VTB checkpoint: it holds only a teacher; pass --part teacher")
    if found == "spikingformer" and part == "teacher":
        raise UserError(f"{path} is a Spikingformer checkpoint: it holds only a student; pass --part student")
    preset = preset or DEFAULT_PRESETS[part]
    if model_kind(preset) != part:
        raise UserError(f"--model {preset} is a {model_kind(preset)}, but the {part} is imported; pick a {part} preset")
    names = list(ATTRIBUTES[data])
    kwargs: dict = {"num_attributes": len(names), **(overrides or {})}
    if image_size:
        kwargs["image_size"] = list(image_size)
    if part == "student":
        if time_steps:
            kwargs["time_steps"] = time_steps
        model = create_model(preset, **_build_kwargs(kwargs))
        mapped, report = map_student(state, model, STUDENT_PREFIX if found == "snn-par" else "")
        fix = f"check that --model {preset} has the file's width and depth"
    else:
        width = state["word_embed.weight"].shape[1]  # VTB's word_embed: Linear(vector width -> dim)
        vectors = read_text_vectors(text_vectors, names, width=width) if text_vectors else None
        if vectors is not None:
            kwargs["text_width"] = int(vectors.shape[1])
        model = create_model(preset, **_build_kwargs(kwargs))
        mapped, report = map_vtb(state, model, vectors)
        fix = (f"check that --model {preset} and --data {data} fit the file"
               + ("" if vectors is not None else "; VTB's attribute vectors are not in its checkpoint: give "
                  "--text-vectors FILE"))
    load_mapped(model, mapped, report, path, fix)
    card = ModelCard(preset, kwargs, names, {k: list(v) for k, v in NORMALIZATION.items()},
                     {"imported_from": str(path), "layout": found, "part": part})
    save_checkpoint(out, model, card)
    return model, report


def run(args: argparse.Namespace) -> int:
    _, report = import_checkpoint(args.checkpoint, args.out, layout=args.layout, part=args.part, preset=args.model,
                                  data=args.data, time_steps=args.time_steps, image_size=args.image_size,
                                  text_vectors=args.text_vectors)
    print("\n".join(report.lines()))
    print(f"wrote {args.out}")
    return 0
