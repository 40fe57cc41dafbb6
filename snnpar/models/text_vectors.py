"""Attribute vectors files: the teacher's frozen text side, computed once and read back without the encoder.

A vectors file is a `torch.save`d dict (read with weights_only=True):
    format           "snnpar-text-vectors-v1"
    attribute_names  the attributes, in logit order
    phrases          the text embedded for each attribute
    vectors          float32 [A, width] (VTB: all-mpnet-base-v2, width 768)
    source           what embedded them (the model folder's name)
`snnpar text-vectors` writes one from a local sentence-transformers folder; `snnpar train --text-vectors`
and `snnpar import --text-vectors` read it. A raw [A, width] tensor file is accepted too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from snnpar.errors import UserError

FORMAT = "snnpar-text-vectors-v1"


def write_text_vectors(path: str | Path, attribute_names: list[str], phrases: list[str], vectors: torch.Tensor,
                       source: str) -> Path:
    from snnpar.checkpoint import atomic_torch_save

    if vectors.dim() != 2 or vectors.shape[0] != len(attribute_names):
        raise ValueError(f"vectors {list(vectors.shape)} must be [{len(attribute_names)}, width]")
    return atomic_torch_save({"format": FORMAT, "attribute_names": list(attribute_names), "phrases": list(phrases),
                              "vectors": vectors.detach().float().cpu(), "source": str(source)}, path)


def read_text_vectors(path: str | Path, attribute_names: list[str], width: int | None = None) -> torch.Tensor:
    """The [A, width] vectors of `path`, checked against the attributes (count and, if stored, names) and width."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"attribute vectors file {path} does not exist; write one with `snnpar text-vectors "
                        "--text-model DIR --data NAME --out FILE`")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path} is not a vectors file ({type(err).__name__}); write one with `snnpar text-vectors`") from err
    names = None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        names, obj = obj.get("attribute_names"), obj.get("vectors")
    if not isinstance(obj, torch.Tensor) or obj.dim() != 2:
        raise UserError(f"{path} holds no [attributes, width] tensor; write it with `snnpar text-vectors`")
    if obj.shape[0] != len(attribute_names):
        raise UserError(f"{path} holds vectors for {obj.shape[0]} attributes but the data set has "
                        f"{len(attribute_names)}; write the file for this data set (`snnpar text-vectors --data ...`)")
    if names is not None and list(names) != list(attribute_names):
        raise UserError(f"{path} was written for attributes {list(names)[:3]}... not the data set's "
                        f"{list(attribute_names)[:3]}...; write it for this data set")
    if width is not None and obj.shape[1] != width:
        raise UserError(f"{path} holds {obj.shape[1]}-wide vectors but the teacher's text side takes {width} "
                        "(VTB: 768, all-mpnet-base-v2); embed with the matching sentence encoder")
    if not torch.isfinite(obj).all():
        raise UserError(f"{path} holds non-finite vectors; the file is damaged")
    return obj.float()
