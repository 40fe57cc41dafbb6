"""PAR data: the synthetic pedestrian set, readers of PA100K / PETA / RAPv1, transforms.

Public entry points: `load_dataset`, `NORMALIZATION`, `attribute_sentences`, and the modules
`synthetic` (draw and write the built-in set) and `transforms`. Metrics and losses live in
`snnpar.metrics` and `snnpar.losses`, not here. The torch-based parts load on first use, so
`snnpar data synth` and `--help` start without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from snnpar.data.attributes import ATTRIBUTES, attribute_sentences
from snnpar.data.formats import DatasetError
from snnpar.data.transforms import NORMALIZATION

_LAZY = {"load_dataset": "dataset", "PARDataset": "dataset", "DATASETS": "dataset", "SPLITS": "dataset"}

__all__ = ["ATTRIBUTES", "DATASETS", "NORMALIZATION", "SPLITS", "DatasetError", "PARDataset",
           "attribute_sentences", "load_dataset"]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"snnpar.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'snnpar.data' has no attribute {name!r}")
