"""export: a trained Spikingformer student as a NIR graph file, and a reference executor for NIR graphs.

`export_nir(model, path)` lowers the Norse model (export.lowering), stores dt, T, the input spec and the
model card in the graph metadata, and writes the file atomically (export.graph_io). `read_graph` reads it
back, including the SSA extension node (export.attention, schema in export/SCHEMA.md).
`export.executor.run_graph` runs any such graph step by step (and graphs other tools write, recurrent ones
included); `export.portable` writes the form other tools' importers read, `export.interop` runs graphs in
those importers. This package never runs Lava.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.attention import SpikingSelfAttention
from export.graph_io import graph_differences, read_graph, write_graph
from export.lowering import UnsupportedModuleError, fold_batchnorm, lower_spikingformer, token_grid
from export.portable import make_portable

__all__ = ["export_nir", "read_graph", "write_graph", "graph_differences", "lower_spikingformer", "fold_batchnorm",
           "SpikingSelfAttention", "UnsupportedModuleError"]


def export_nir(model, path: str | Path, *, preset: str | None = None, attribute_names: list[str] | None = None,
               normalization: dict[str, list[float]] | None = None, dtype=np.float64, compression: str | None = None,
               metadata: dict[str, Any] | None = None, portable: bool = False):
    """Lower `model` to NIR and write it to `path`; returns the graph. Nothing is written if lowering fails.

    float64 weights (the default) keep the folded BatchNorm exact enough for spike-for-spike agreement
    with a float64 Norse run; float32 halves the file. `portable=True` writes only Input, Conv2d, LIF and
    Output nodes, the form other tools' importers read (export.portable; dt becomes 1e-4); a graph with a
    node that has no such form (SSA attention) is refused, naming the nodes.
    """
    extra: dict[str, Any] = dict(metadata or {})
    if preset is not None:
        extra["preset"] = preset
    if attribute_names is not None:
        extra["attribute_names"] = list(attribute_names)
    if normalization is not None:
        extra["normalization"] = {k: list(v) for k, v in normalization.items()}
    extra.setdefault("weight_dtype", np.dtype(dtype).name)
    graph = lower_spikingformer(model, dtype=dtype, metadata=extra)
    if portable:
        graph = make_portable(graph, token_grid(model.config))
    write_graph(graph, path, compression=compression)
    return graph
