"""export_nir(..., portable=True): only Input, Conv2d, LIF and Output nodes, the same spikes as the standard graph
(so as the Norse student), loadable by plain nir.read; SSA students are refused naming the node."""

from __future__ import annotations

import nir
import pytest
import torch
from spiking_fixtures import IMAGE_SIZE, TIME_STEPS, firing_student

from export import export_nir, read_graph
from export.executor import readout_logits, run_graph
from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.cli import main
from snnpar.errors import UserError


def test_portable_sdsa_graph_gives_the_spikes_and_logits_of_the_standard_graph(images, tmp_path):
    model = firing_student("sdsa")
    standard = export_nir(model, tmp_path / "standard.nir")
    export_nir(model, tmp_path / "portable.nir", portable=True)
    portable = nir.read(tmp_path / "portable.nir")  # plain NIR, type-checked by nir itself
    assert {type(n).__name__ for n in portable.nodes.values()} == {"Input", "Conv2d", "LIF", "Output"}
    assert portable.metadata["dt"] == 1e-4 and portable.metadata["portable"]
    a, b = run_graph(standard, images), run_graph(portable, images)
    compared = 0
    for name, node in standard.nodes.items():
        if isinstance(node, (nir.LIF, nir.Threshold)):  # a Threshold is a memoryless LIF of the same name
            assert torch.equal(a[name].reshape(b[name].shape), b[name]), name
            compared += 1
    assert compared == 17 and 0.05 < b["blocks.0.attn.v_and_attn"].mean() < 0.95
    torch.testing.assert_close(readout_logits(portable, b), readout_logits(standard, a), rtol=0, atol=1e-9)
    assert b["output"].shape == (TIME_STEPS, 2, 26, 1, 1)


def test_ssa_students_have_no_portable_form_and_nothing_is_written(tmp_path):
    with pytest.raises(UserError, match=r"1 nodes have no portable form.*blocks.0.attn.ssa: SpikingSelfAttention"):
        export_nir(firing_student("ssa"), tmp_path / "p.nir", portable=True)
    assert not list(tmp_path.iterdir())


def test_export_nir_cli_writes_the_portable_graph(tmp_path, capsys):
    kwargs = {"image_size": list(IMAGE_SIZE), "time_steps": TIME_STEPS, "attention": "sdsa", "num_attributes": 26}
    save_checkpoint(tmp_path / "s.pt", firing_student("sdsa"), ModelCard("snnpar-tiny", kwargs, [f"a{i}" for i in range(26)], {"mean": [0.5] * 3, "std": [0.5] * 3}))
    assert main(["export-nir", str(tmp_path / "s.pt"), "-o", str(tmp_path / "p.nir"), "--portable"]) == 0
    assert "portable: only Input, Conv2d, LIF and Output" in capsys.readouterr().out
    assert read_graph(tmp_path / "p.nir").metadata["portable"]
