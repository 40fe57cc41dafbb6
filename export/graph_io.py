"""NIR files with the project's extension node: atomic writing, reading, and comparing graphs.

The file format is NIR's own (HDF5: ``version`` and a ``node`` group, as `nir.write` lays it out), so a
graph made of standard nodes only (SDSA students) loads in plain `nir.read` and in other NIR tools.
An extension node (`SpikingSelfAttention`) is stored as a group that `nir.read` accepts up to the
point of constructing it, then rejects with a readable message: its ``type`` is "NIRGraph" (empty
``nodes`` and ``edges``), and its first unexpected field is a marker dataset whose *name* is the
message, so `nir.read` raises ``TypeError: ... unexpected keyword argument 'Extension node
SpikingSelfAttention ...: use export.read_graph'`` instead of a bare AssertionError.
`read_graph` recognises the ``extension`` field and rebuilds the node. Nothing here runs a graph.

Graphs are files users exchange: `read_graph` turns whatever can be wrong with one (not HDF5, truncated,
a node of unknown type, fields that do not fit the node, NaN or infinite parameters) into one
`UserError` naming the file and the node; HDF5 holds only arrays and strings, so reading one runs no
code. `write_graph` refuses non-finite parameters before touching the disk.
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
# the node types of NIR itself (nir.ir also exports the base class and helper functions)
NODE_TYPES = sorted(n for n in nir.ir.__all__ if isinstance(getattr(nir.ir, n), type)
                    and issubclass(getattr(nir.ir, n), nir.NIRNode) and n != "NIRNode")


def write_graph(graph: nir.NIRGraph, path: str | Path, compression: str | None = None) -> Path:
    """Write `graph` as a NIR file; atomically (temporary file + rename), so a failure leaves nothing.

    Arrays holding one repeated value (per-neuron parameters, thresholds) are always gzip-compressed;
    `compression` ("gzip", "lzf" or None) applies to the others (weights barely compress, so the
    default is none, much faster for large models).
    """
    path = Path(path)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"write_graph expects a nir.NIRGraph, got {type(graph).__name__}")
    bad = non_finite_fields(graph)
    if bad:
        raise UserError(f"cannot write {path}: {bad[0]} holds NaN or infinite values (the model's weights are not "
                        "finite: the training diverged); export a checkpoint whose weights are finite")
    stored = _storage_dict(graph)  # before touching the disk: bad metadata or nodes fail here
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        _write_group(f.create_group("node"), stored, compression)
    return path


def read_graph(path: str | Path, type_check: bool = True) -> nir.NIRGraph:
    """Read a NIR file, including the project's extension nodes; metadata comes back as plain Python values.
    Anything wrong with the file is a UserError naming it (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"NIR file {path} does not exist; write one with `snnpar export-nir CKPT -o {path.name}`")
    if path.is_dir():
        raise UserError(f"NIR file {path} is a folder; give the .nir file")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise UserError(f"{path} is an HDF5 file but not a NIR graph (it has no 'node' group); give a file "
                                "written by `snnpar export-nir` or another NIR tool")
            data = hdf2dict(f["node"])
    except UserError:
        raise
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as err:  # h5py: not HDF5, truncated, unreadable
        raise UserError(f"{path} is not a readable NIR file ({' '.join(str(err).split())[:200]}); NIR files are HDF5: "
                        "is it truncated or something else?") from err
    graph = _node_from_dict(data, type_check, path, "graph")
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"{path} holds a single {type(graph).__name__} node, not a NIR graph")
    bad = non_finite_fields(graph)
    if bad:
        raise UserError(f"{path}: {bad[0]} holds NaN or infinite values; the graph cannot be simulated. Export it "
                        "again from a checkpoint whose weights are finite")
    return graph


def non_finite_fields(graph: nir.NIRGraph, where: str = "node") -> list[str]:
    """'node NAME field FIELD' for every float parameter array of the graph (nested graphs too) that holds
    NaN or an infinity."""
    found = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            found += non_finite_fields(node, f"{where} {name} /")
            continue
        for field, value in vars(node).items():
            array = np.asarray(value) if isinstance(value, (np.ndarray, float)) else None
            if array is not None and array.dtype.kind == "f" and not np.isfinite(array).all():
                found.append(f"{where} {name!r} field {field!r}")
    return found


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


def _node_from_dict(data: dict[str, Any], type_check: bool, path: Path, where: str) -> nir.NIRNode:
    """One stored node (a graph: recursively); `where` names it in messages ("graph", "node 'x'")."""
    data = dict(data)
    kind = _to_str(data.get("type", ""))
    try:
        if "metadata" in data:
            data["metadata"] = normalize_metadata(data["metadata"])
        extension = data.pop("extension", None)
        if extension is not None:
            extension = _to_str(extension)
            if extension not in EXTENSIONS:
                raise UserError(f"{path}: {where} is an extension node of unknown type {extension!r}; this reader "
                                f"knows {sorted(EXTENSIONS)}")
            version = int(data.pop("extension_version", EXTENSION_VERSION))
            if version > EXTENSION_VERSION:
                raise UserError(f"{path}: {where} is a {extension} node of schema version {version}, newer than this "
                                f"reader ({EXTENSION_VERSION}); update snnpar")
            fields = {k: v for k, v in data.items() if k not in ("type", "nodes", "edges", MARKER.format(name=extension))}
            return EXTENSIONS[extension].from_dict({**fields, "type": extension})
        if kind == "NIRGraph":
            nodes = data.get("nodes", {})
            if not isinstance(nodes, dict):
                raise UserError(f"{path}: {where} has no group of nodes; the file is damaged")
            nodes = {name: _node_from_dict(child, type_check, path, f"node {name!r}") for name, child in nodes.items()}
            edges = [(_to_str(a), _to_str(b)) for a, b in np.asarray(data.get("edges", []), dtype=object).reshape(-1, 2)]
            missing = sorted({n for edge in edges for n in edge} - set(nodes))
            if missing:
                raise UserError(f"{path}: {where} has edges to nodes that do not exist: {missing}")
            return nir.NIRGraph(nodes=nodes, edges=edges, metadata=data.get("metadata", {}), type_check=type_check)
        if kind not in NODE_TYPES:
            raise UserError(f"{path}: {where} has type {kind or '(none)'!r}, which is neither a NIR node nor an snnpar "
                            f"extension; this reader knows {', '.join(NODE_TYPES)}, {', '.join(sorted(EXTENSIONS))}")
        data["type"] = kind
        return nir.dict2NIRNode(data)
    except UserError:
        raise
    except UnicodeDecodeError as err:  # HDF5 bytes where text belongs (metadata, names): opaque data
        raise UserError(f"{path}: {where} holds bytes that are not text where text belongs (metadata or names); "
                        "the file is damaged or was written by something other than a NIR writer") from err
    except (AssertionError, AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
        # nir's node constructors: missing, unexpected or mis-shaped fields, edges of the wrong form
        raise UserError(f"{path}: {where} ({kind or 'no type'}) cannot be read ({type(err).__name__}: "
                        f"{' '.join(str(err).split())[:200]}); the file is damaged or not a NIR graph this reader "
                        "supports") from err


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
