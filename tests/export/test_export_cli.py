"""`snnpar export-nir CKPT -o model.nir` writes the checkpoint's student with its model card in the metadata."""

from __future__ import annotations

import nir
from spiking_fixtures import IMAGE_SIZE, TIME_STEPS

from export import read_graph
from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.cli import main
from snnpar.models.registry import create_model


def test_export_nir_command_writes_a_readable_graph_with_the_model_card(tmp_path, capsys):
    kwargs = {"image_size": list(IMAGE_SIZE), "time_steps": TIME_STEPS, "attention": "sdsa", "num_attributes": 3}
    model = create_model("snnpar-tiny", **{**kwargs, "image_size": IMAGE_SIZE})
    card = ModelCard("snnpar-tiny", kwargs, ["hat", "bag", "female"], {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    ckpt = save_checkpoint(tmp_path / "student.pt", model, card)
    out = tmp_path / "model.nir"
    assert main(["export-nir", str(ckpt), "-o", str(out), "--dtype", "float32"]) == 0
    assert "wrote" in capsys.readouterr().out
    graph = read_graph(out)
    assert graph.metadata["preset"] == "snnpar-tiny"
    assert graph.metadata["attribute_names"] == ["hat", "bag", "female"]
    assert graph.metadata["weight_dtype"] == "float32" and graph.nodes["head"].weight.dtype.name == "float32"
    assert nir.read(out).nodes["output"].output_type["output"].tolist() == [3]
