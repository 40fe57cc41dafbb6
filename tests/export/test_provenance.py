"""An exported graph names the checkpoint it came from; compare and energy refuse a graph of another
checkpoint or attention mode, instead of reporting it as a simulator fidelity problem."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from export import read_graph, write_graph
from export.lowering import lower_spikingformer
from export.provenance import FINGERPRINT_KEY
from snnpar.checkpoint import ModelCard, load_model, save_checkpoint, weights_fingerprint
from snnpar.cli import main
from snnpar.data import NORMALIZATION, load_dataset
from snnpar.data.synthetic import generate
from snnpar.errors import UserError
from snnpar.models import create_model

SIZE = (32, 16)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance")
    data = generate(root / "data", n=6, seed=0, image_size=SIZE, workers=1)
    names = list(load_dataset("synthetic", data, "train", image_size=SIZE).attribute_names)
    for name, attention, seed in (("a", "ssa", 0), ("b", "ssa", 1), ("sdsa", "sdsa", 0)):
        torch.manual_seed(seed)
        kwargs = {"num_attributes": len(names), "image_size": list(SIZE), "time_steps": 2, "attention": attention}
        save_checkpoint(root / f"{name}.pt", create_model("snnpar-tiny", **{**kwargs, "image_size": SIZE}),
                        ModelCard("snnpar-tiny", kwargs, names, NORMALIZATION))
        assert main(["export-nir", str(root / f"{name}.pt"), "-o", str(root / f"{name}.nir")]) == 0
    return root


def test_the_graph_carries_the_fingerprint_of_the_weights_it_was_exported_from(files):
    _, card = load_model(files / "a.pt")
    assert read_graph(files / "a.nir").metadata[FINGERPRINT_KEY] == card.fingerprint
    state = torch.load(files / "a.pt", weights_only=True)
    state["extra"] = {"epoch": 7}  # other metadata, same weights: the same fingerprint
    torch.save(state, files / "a_copy.pt")
    assert load_model(files / "a_copy.pt")[1].fingerprint == card.fingerprint
    assert load_model(files / "b.pt")[1].fingerprint != card.fingerprint
    first = next(iter(state["state_dict"]))
    state["state_dict"][first] = state["state_dict"][first].clone()
    state["state_dict"][first].view(-1)[0] += 1e-6
    assert weights_fingerprint(state["state_dict"]) != card.fingerprint


@pytest.mark.parametrize("command", ["compare", "energy"])
def test_a_graph_of_another_checkpoint_is_refused_naming_both(files, tmp_path, capsys, command):
    argv = [command, str(files / "a.pt"), "--nir", str(files / "b.nir"), "--data", "synthetic", "--root",
            str(files / "data"), "--n", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "b.nir was exported from another checkpoint (b.pt" in err and "a.pt" in err and "export-nir" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["compare", "energy"])
def test_a_graph_of_the_other_attention_mode_is_refused_without_a_fingerprint(files, tmp_path, capsys, command):
    """An older export (no fingerprint) is still checked by what its metadata says."""
    old = tmp_path / "old_sdsa.nir"
    old.write_bytes((files / "sdsa.nir").read_bytes())
    with h5py.File(old, "r+") as f:
        del f["node"]["metadata"][FINGERPRINT_KEY]
    argv = [command, str(files / "a.pt"), "--nir", str(old), "--data", "synthetic", "--root", str(files / "data"),
            "--n", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "attention sdsa" in err and "attention ssa" in err and str(old) in err


def test_non_finite_weights_are_refused_at_export_and_nothing_is_written(files, tmp_path):
    model, _ = load_model(files / "a.pt")
    graph = lower_spikingformer(model)
    graph.nodes["head"].weight[0, 0] = np.inf
    with pytest.raises(UserError, match=r"node 'head' field 'weight' holds NaN or infinite"):
        write_graph(graph, tmp_path / "g.nir")
    assert list(tmp_path.iterdir()) == []
