"""Damaged versions of the files the project reads, as users meet them (and as an attacker would write them).

Each writer takes a valid file and the path to write the damaged copy to. `Payload` is a pickle that, if
anything ever unpickled it, would create `payload_marker()`: the tests assert that file never appears.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import torch

MARKER_ENV = "SNNPAR_TEST_PAYLOAD_MARKER"


def payload_marker() -> Path:
    return Path(os.environ[MARKER_ENV])


class Payload:
    """Unpickling this runs a shell command (os.system) that creates the marker file."""

    def __reduce__(self):
        return os.system, (f"touch {payload_marker()}",)


def truncated(valid: Path, out: Path) -> None:
    data = valid.read_bytes()
    out.write_bytes(data[: len(data) // 2])


def random_bytes(valid: Path, out: Path) -> None:
    out.write_bytes(np.random.default_rng(7).integers(0, 256, valid.stat().st_size or 4096, dtype=np.uint8).tobytes())


def empty(valid: Path, out: Path) -> None:
    out.write_bytes(b"")


def another_files_bytes(other: Path):
    """'wrong type': a whole, valid file of another kind under this file's name."""

    def write(valid: Path, out: Path) -> None:
        shutil.copyfile(other, out)

    return write


# --- checkpoints and training states (torch zip files holding a dict) --------------------------------


def _edit_torch(valid: Path, out: Path, edit) -> None:
    data = torch.load(valid, weights_only=False)  # our own valid test file
    edit(data)
    torch.save(data, out)


def _first_float_tensor(state: dict) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.ndim >= 2)


def checkpoint_wrong_shape(valid: Path, out: Path) -> None:
    def edit(d):
        key = _first_float_tensor(d["state_dict"])
        d["state_dict"][key] = torch.zeros(*d["state_dict"][key].shape[:-1], d["state_dict"][key].shape[-1] + 1)
    _edit_torch(valid, out, edit)


def checkpoint_unknown_preset(valid: Path, out: Path) -> None:
    _edit_torch(valid, out, lambda d: d.update(preset="snnpar-bogus-9-999"))


def checkpoint_nan(valid: Path, out: Path) -> None:
    def edit(d):
        d["state_dict"][_first_float_tensor(d["state_dict"])].view(-1)[0] = float("nan")
    _edit_torch(valid, out, edit)


def checkpoint_payload(valid: Path, out: Path) -> None:
    """An otherwise valid checkpoint that carries the payload in its free-form `extra`."""
    _edit_torch(valid, out, lambda d: d["extra"].update(note=Payload()))


def state_wrong_shape(valid: Path, out: Path) -> None:
    def edit(d):
        key = _first_float_tensor(d["model"])
        d["model"][key] = torch.zeros(*d["model"][key].shape[:-1], d["model"][key].shape[-1] + 1)
    _edit_torch(valid, out, edit)


def state_nan(valid: Path, out: Path) -> None:
    def edit(d):
        d["model"][_first_float_tensor(d["model"])].view(-1)[0] = float("nan")
    _edit_torch(valid, out, edit)


def state_payload(valid: Path, out: Path) -> None:
    _edit_torch(valid, out, lambda d: d["history"].append({"note": Payload()}))


# --- NIR graphs (HDF5) ------------------------------------------------------------------------------


def _edit_nir(valid: Path, out: Path, edit) -> None:
    shutil.copyfile(valid, out)
    with h5py.File(out, "r+") as f:
        edit(f["node"])


def _weighted_node(nodes: h5py.Group) -> h5py.Group:
    return next(nodes[name] for name in nodes if "weight" in nodes[name] and nodes[name]["weight"].ndim >= 2)


def nir_wrong_shape(valid: Path, out: Path) -> None:
    """A weight with one output channel more than the layer after it takes (NIR 1.0.8 derives a Conv2d's
    output type from weight.shape[2] alone, so a change of the kernel's width would not show in the types)."""
    def edit(graph):
        node = _weighted_node(graph["nodes"])
        weight = node["weight"][()]
        del node["weight"]
        node.create_dataset("weight", data=np.zeros((weight.shape[0] + 1, *weight.shape[1:])))
    _edit_nir(valid, out, edit)


def nir_unknown_node(valid: Path, out: Path) -> None:
    def edit(graph):
        node = _weighted_node(graph["nodes"])
        del node["type"]
        node.create_dataset("type", data="BogusSynapse", dtype=h5py.string_dtype())
    _edit_nir(valid, out, edit)


def nir_nan(valid: Path, out: Path) -> None:
    def edit(graph):
        node = _weighted_node(graph["nodes"])
        weight = node["weight"][()]
        weight.reshape(-1)[0] = np.nan
        node["weight"][...] = weight
    _edit_nir(valid, out, edit)


def nir_payload(valid: Path, out: Path) -> None:
    """Pickled code in the graph metadata, as opaque bytes and as a string; a reader must run neither."""
    def edit(graph):
        meta = graph["metadata"]
        meta.create_dataset("note", data=np.void(pickle.dumps(Payload())))
        meta.create_dataset("hook", data=f"__import__('os').system('touch {payload_marker()}')",
                            dtype=h5py.string_dtype())
    _edit_nir(valid, out, edit)


# --- PA100K-layout annotations (annotation.mat, or the field's dataset.pkl) ------------------------------


def _edit_mat(valid: Path, out: Path, edit) -> None:
    from scipy.io import loadmat, savemat

    data = {k: v for k, v in loadmat(str(valid)).items() if not k.startswith("__")}
    edit(data)
    savemat(str(out), data)


def annotation_wrong_shape(valid: Path, out: Path) -> None:
    """The test split alone one attribute short (numpy's concatenation used to report it, naming nothing)."""
    _edit_mat(valid, out, lambda d: d.update(test_label=d["test_label"][:, :-1]))


def annotation_nan(valid: Path, out: Path) -> None:
    def edit(d):
        labels = d["test_label"].astype(np.float64)
        labels[0, 0] = np.nan
        d["test_label"] = labels
    _edit_mat(valid, out, edit)


def annotation_payload(valid: Path, out: Path) -> None:
    """The field's preprocessed pickle (dataset.pkl beside annotation.mat's place), carrying the payload."""
    out.unlink(missing_ok=True)
    (out.parent / "dataset.pkl").write_bytes(pickle.dumps({
        "description": "pa100k", "image_name": ["000001.jpg"], "label": np.zeros((1, 26)),
        "attr_name": [f"a{i}" for i in range(26)], "partition": {"train": np.arange(1)}, "root": Payload()}))


# --- a run folder's config.json ---------------------------------------------------------------------------


def _edit_json(valid: Path, out: Path, edit) -> None:
    values = json.loads(valid.read_text())
    values = edit(values) or values
    out.write_text(json.dumps(values))


def config_wrong_type(valid: Path, out: Path) -> None:
    _edit_json(valid, out, lambda v: [v])


def config_wrong_shape(valid: Path, out: Path) -> None:
    _edit_json(valid, out, lambda v: v.update(image_size=[32]))


def config_unknown_key(valid: Path, out: Path) -> None:
    _edit_json(valid, out, lambda v: v.update(learning_rate=1.0))


def config_nan(valid: Path, out: Path) -> None:
    _edit_json(valid, out, lambda v: v.update(lr=float("nan")))
