"""NIR files with the project's extension node: atomic writing, reading, and comparing graphs.

The file format is NIR's own (HDF5: ``version`` and a ``node`` group, as `nir.write` lays it out), so a
graph made of standard nodes only (SDSA students) loads in plain `nir.read` and in other NIR tools.
An extension node (`SpikingSelfAttention`) is stored as a group that `nir.read` accepts up to the
point of constructing it, then rejects with a readable message: its ``type`` is "NIRGraph" (empty
``nodes`` and ``edges``), and its first unexpected field is a marker dataset whose *name* is the
message, so `nir.read` raises ``TypeError: ... unexpected keyword argument 'Extension node
SpikingSelfAttention ...: use export.read_graph'`` instead of a bare AssertionError.
`read_graph` recognises the ``extension`` field and rebuilds the node. Nothing here runs a graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

from export.attention import EXTENSION_NAME, EXTENSION_VERSION, SpikingSelfAttention
from export.lowering import normalize_metadata
from snnpar.atomic_file import atomic_output
from snnpar.errors import UserError

# Extension node types by stored name. The marker's name starts with an upper-case letter so that it
# sorts before every lower-case field: h5py lists a group's members by name, and Python reports the
# first unexpected keyword, so this is the text `nir.read` shows.
EXTENSIONS: dict[str, type[nir.NIRNode]] = {EXTENSION_NAME: SpikingSelfAttention}
MARKER = "Extension node {name} (snnpar) cannot be loaded by nir.read - use export.read_graph"


def write_graph(graph: nir.NIRGraph, path: str | Path, compression: str | None = None) -> Path:
    """Write `graph` as a NIR file; atomically (temporary file + rename), so a failure leaves nothing.

    Arrays holding one repeated value (per-neuron parameters, thresholds) are always gzip-compressed;
    `compression` ("gzip", "lzf" or None) applies to the others (weights barely compress, so the
    default is none, much faster for large models).
    """
    path = Path(path)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"write_graph expects a nir.NIRGraph, got {type(graph).__name__}")
    stored = _storage_dict(graph)  # before touching the disk: bad metadata or nodes fail here
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        _write_group(f.create_group("node"), stored, compression)
    return path


def read_graph(path: str | Path, type_check: bool = True) -> nir.NIRGraph:
    """Read a NIR file, including the project's extension nodes; metadata comes back as plain Python values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {path} does not exist; write one with `snnpar export-nir CKPT -o {path.name}`")
    try:
        with h5py.File(path, "r") as f:
            data = hdf2dict(f["node"])
    except (OSError, KeyError) as err:
        raise ValueError(f"{path} is not a NIR file ({err}); NIR files are HDF5 with a 'node' group") from err
    return _node_from_dict(data, type_check)


def graph_differences(a: nir.NIRNode, b: nir.NIRNode, where: str = "graph") -> list[str]:
    """Human-readable differences between two nodes or graphs (empty when equal, metadata included)."""
    if type(a) is not type(b):
        return [f"{where}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, nir.NIRGraph):
        out = []
        if list(a.nodes) != list(b.nodes) and set(a.nodes) != set(b.nodes):
            out.append(f"{where}: node names differ: {sorted(set(a.nodes) ^ set(b.nodes))}")
        if [tuple(e) for e in a.edges] != [tuple(e) for e in b.edges]:
            out.append(f"{where}: edges differ")
        if not _equal(a.metadata, b.metadata):
            out.append(f"{where}: metadata differ: {a.metadata} != {b.metadata}")
        for name in a.nodes:
            if name in b.nodes:
                out += graph_differences(a.nodes[name], b.nodes[name], f"{where}.nodes[{name!r}]")
        return out
    da, db = dict(vars(a)), dict(vars(b))
    return [f"{where}.{k}: {da.get(k)!r} != {db.get(k)!r}" for k in sorted(set(da) | set(db)) if not _equal(da.get(k), db.get(k))]


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, dict) or isinstance(y, dict):
        return isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, str) or isinstance(y, str):
        return x == y
    if x is None or y is None:
        return x is y
    try:
        return bool(np.array_equal(np.asarray(x), np.asarray(y)))
    except Exception:
        return x == y


def _storage_dict(node: nir.NIRNode) -> dict[str, Any]:
    if isinstance(node, nir.NIRGraph):
        missing = {n for edge in node.edges for n in edge} - set(node.nodes)
        if missing:
            raise ValueError(f"graph edges name nodes that do not exist: {sorted(missing)}")
        return {
            "type": "NIRGraph",
            "nodes": {name: _storage_dict(child) for name, child in node.nodes.items()},
            "edges": np.array([list(e) for e in node.edges], dtype=object).reshape(-1, 2),
            "metadata": normalize_metadata(node.metadata or {}),
        }
    stored = node.to_dict()
    stored["metadata"] = normalize_metadata(stored.get("metadata") or {})
    name = stored["type"]
    if name in EXTENSIONS:
        stored.update(type="NIRGraph", nodes={}, edges=np.empty((0, 2), dtype=object), extension=name,
                      extension_version=EXTENSION_VERSION, **{MARKER.format(name=name): name})
    elif name not in nir.ir.__all__:
        raise ValueError(f"node type {name} is neither standard NIR nor a known extension ({sorted(EXTENSIONS)})")
    return stored


def _node_from_dict(data: dict[str, Any], type_check: bool) -> nir.NIRNode:
    data = dict(data)
    if "metadata" in data:
        data["metadata"] = normalize_metadata(data["metadata"])
    extension = data.pop("extension", None)
    if extension is not None:
        if extension not in EXTENSIONS:
            raise ValueError(f"unknown extension node type {extension!r}; this reader knows {sorted(EXTENSIONS)}")
        version = int(data.pop("extension_version", EXTENSION_VERSION))
        if version > EXTENSION_VERSION:
            raise ValueError(f"{extension} node of schema version {version} is newer than this reader ({EXTENSION_VERSION})")
        fields = {k: v for k, v in data.items() if k not in ("type", "nodes", "edges", MARKER.format(name=extension))}
        return EXTENSIONS[extension].from_dict({**fields, "type": extension})
    if data.get("type") == "NIRGraph":
        children = data.get("nodes", {})
        for name, child in children.items():
            kind = _to_str(child.get("type", "")) if isinstance(child, dict) else ""
            if kind not in nir.ir.__all__ and "extension" not in child:
                raise UserError(f"node {name!r} has type {kind!r}, which is neither NIR {nir.version} nor a known "
                                f"extension ({sorted(EXTENSIONS)}); the file was written by a newer or different tool")
        nodes = {name: _node_from_dict(child, type_check) for name, child in children.items()}
        edges = [(_to_str(a), _to_str(b)) for a, b in data.get("edges", [])]
        for src, dst in edges:
            missing = [n for n in (src, dst) if n not in nodes]
            if missing:
                raise UserError(f"the graph's edge ({src!r} -> {dst!r}) names {missing[0]!r}, which is not a node of the "
                                "graph; the file is damaged or was written by a tool with a bug")
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=data.get("metadata", {}), type_check=type_check)
    return nir.dict2NIRNode(data)


def _to_str(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _write_group(group: h5py.Group, stored: dict[str, Any], compression: str | None) -> None:
    for key, value in stored.items():
        if key == "metadata" and not value:
            continue  # as nir.write: empty metadata is left out and reads back as {}
        if isinstance(value, dict):
            # a graph's nodes keep their (topological) order; other groups list members by name
            _write_group(group.create_group(str(key), track_order=(key == "nodes")), value, compression)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        else:
            array = np.asarray(value)
            if array.dtype.kind in "UOS":
                group.create_dataset(key, data=array.astype(object), dtype=h5py.string_dtype())
            elif array.ndim == 0:
                group.create_dataset(key, data=array)
            elif array.size > 64 and array.dtype.kind in "fiub" and (array == array.flat[0]).all():
                # per-neuron parameters are mostly one value repeated: gzip makes them nearly free
                group.create_dataset(key, data=array, compression="gzip", compression_opts=4)
            else:
                group.create_dataset(key, data=array, compression=compression if array.size > 64 else None)
