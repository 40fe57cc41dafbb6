"""Which checkpoint a NIR graph came from: written at export, checked wherever the two meet again.

`export_nir` stores `provenance(card, checkpoint)` in the graph metadata: the checkpoint's weights
fingerprint (`snnpar.checkpoint.weights_fingerprint`: the weights, not the file, so best.pt and a copy of
it agree) and its file name. `check_graph_matches_checkpoint` is what `snnpar compare` and
`snnpar energy --nir` run first: a graph exported from another checkpoint, or of the other attention
mode, would otherwise be reported as a simulator fidelity problem. Graphs without a fingerprint (older
exports, other tools) are checked by what their metadata does say: attention, T, input shape, outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir

from snnpar.errors import UserError

FINGERPRINT_KEY = "checkpoint_fingerprint"
CHECKPOINT_FILE_KEY = "checkpoint_file"


def provenance(card: Any, checkpoint: str | Path) -> dict[str, str]:
    """The metadata that ties a graph to the checkpoint it is exported from."""
    return {FINGERPRINT_KEY: card.fingerprint, CHECKPOINT_FILE_KEY: Path(checkpoint).name}


def check_graph_matches_checkpoint(graph: nir.NIRGraph, card: Any, model_config: Any, nir_path: str | Path,
                                   checkpoint: str | Path) -> None:
    """Raise a UserError when `graph` (read from `nir_path`) is not the student of `checkpoint`."""
    meta = graph.metadata or {}
    fix = f"export it again: snnpar export-nir {checkpoint} -o {nir_path}"
    stored = meta.get(FINGERPRINT_KEY)
    if stored and card.fingerprint and stored != card.fingerprint:
        source = meta.get(CHECKPOINT_FILE_KEY, "another file")
        raise UserError(f"{nir_path} was exported from another checkpoint ({source}, weights {stored}) than "
                        f"{checkpoint} (weights {card.fingerprint}); compare a graph with its own checkpoint: {fix}")
    expected = {"attention": getattr(model_config, "attention", None),
                "time_steps": getattr(model_config, "time_steps", None),
                "input_shape": [3, *model_config.image_size] if getattr(model_config, "image_size", None) else None,
                "num_attributes": len(card.attribute_names)}
    for key, want in expected.items():
        have = meta.get(key)
        if have is not None and want is not None and list(_as_list(have)) != list(_as_list(want)):
            raise UserError(f"{nir_path} is a graph with {key} {have}, but {checkpoint} holds a student with {key} "
                            f"{want}; they are not the same model: {fix}")


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
