"""export.read_graph on files no runner can use: an unknown node type and an edge to a missing node are one
clear line each (plain nir.read raises a bare AssertionError or a KeyError for them)."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest

from export import read_graph
from snnpar.errors import UserError


def _written(tmp_path):
    graph = nir.NIRGraph.from_list(nir.Input(input_type=np.array([2])), nir.Linear(weight=np.eye(2)),
                                   nir.Output(output_type=np.array([2])))
    path = tmp_path / "g.nir"
    nir.write(path, graph)
    return path


def test_an_unknown_node_type_names_the_node(tmp_path):
    path = _written(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/linear/type"]
        f["node/nodes/linear/type"] = "Gelu"
    with pytest.raises(AssertionError):
        nir.read(path)
    with pytest.raises(UserError, match=r"node 'linear' has type 'Gelu', which is neither NIR 1.0.8 nor a known extension"):
        read_graph(path)


def test_an_edge_to_a_missing_node_names_it(tmp_path):
    path = _written(tmp_path)
    with h5py.File(path, "r+") as f:
        edges = [[a.decode(), b.decode()] for a, b in f["node/edges"][()]]
        del f["node/edges"]
        f.create_dataset("node/edges", data=np.array(edges + [["linear", "ghost"]], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(UserError, match=r"edge \('linear' -> 'ghost'\) names 'ghost', which is not a node"):
        read_graph(path)
