"""export -> write -> read -> execute reproduces the Norse student spike for spike, in both attention modes."""

from __future__ import annotations

import nir
import nirtorch
import numpy as np
import pytest
import torch
from spiking_fixtures import TIME_STEPS, firing_student

from export import export_nir, graph_differences, read_graph
from export.executor import nirtorch_node_map, readout_logits, run_graph
from snnpar.models.recording import record_spikes


def norse_reference(model, images):
    with torch.no_grad(), record_spikes(model) as spikes:
        logits = model(images)
    return dict(spikes), logits


@pytest.mark.parametrize("attention", ["ssa", "sdsa"])
def test_executed_graph_gives_the_norse_spikes_of_every_layer_and_the_logits(attention, images, tmp_path):
    model = firing_student(attention)
    spikes, logits = norse_reference(model, images)
    path = tmp_path / "student.nir"
    export_nir(model, path, preset="snnpar-tiny")
    graph = read_graph(path)
    outputs = run_graph(graph, images)

    assert len(spikes) == 11
    for layer, expected in spikes.items():
        rate = expected.mean().item()
        assert 0.02 < rate < 0.98, f"{layer} fires at {rate}: the comparison would be vacuous"
        got = outputs[layer]
        assert got.shape == expected.shape == (TIME_STEPS, *expected.shape[1:])
        mismatched_steps = [t for t in range(TIME_STEPS) if not torch.equal(got[t], expected[t])]
        assert not mismatched_steps, f"{layer} differs from Norse at steps {mismatched_steps}"
    torch.testing.assert_close(readout_logits(graph, outputs), logits, rtol=0, atol=1e-9)


@pytest.mark.parametrize("attention", ["ssa", "sdsa"])
def test_read_of_written_graph_equals_it_node_for_node_with_metadata(attention, tmp_path):
    model = firing_student(attention)
    path = tmp_path / "student.nir"
    graph = export_nir(model, path, preset="snnpar-tiny", attribute_names=["hat", "bag", "female"],
                       normalization={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    back = read_graph(path)
    assert graph_differences(graph, back) == []
    assert list(back.nodes) == list(graph.nodes) and back.edges == graph.edges
    meta = back.metadata
    assert meta["attribute_names"] == ["hat", "bag", "female"]
    assert meta["normalization"]["std"] == [0.229, 0.224, 0.225]
    assert (meta["time_steps"], meta["dt"], meta["input_shape"], meta["attention"]) == (TIME_STEPS, 1e-3, [3, 64, 32], attention)
    assert meta["input_encoding"].startswith("direct")
    assert meta["encoder_node"] == "tokenizer.proj_conv" and isinstance(back.nodes["tokenizer.proj_conv"], nir.Conv2d)
    # the comparison itself can fail: one changed weight is reported
    back.nodes["blocks.0.mlp.mlp1"].weight[0, 0, 0] += 1.0
    assert any("blocks.0.mlp.mlp1" in d for d in graph_differences(graph, back))


def test_sdsa_graph_loads_in_plain_nir_and_nirtorch_and_gives_the_same_spikes(images, tmp_path):
    model = firing_student("sdsa")
    spikes, _ = norse_reference(model, images)
    path = tmp_path / "sdsa.nir"
    export_nir(model, path)
    graph = nir.read(path)  # no help from export
    assert not any(type(n).__module__.startswith("export") for n in graph.nodes.values())
    module = nirtorch.nir_to_torch(graph, nirtorch_node_map(float(graph.metadata["dt"])), dtype=torch.float64)
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in spikes}
    for name in spikes:
        module.get_submodule(name.replace(".", "_")).register_forward_hook(
            lambda _m, _i, out, name=name: recorded[name].append(out[0]))
    state = None
    for _ in range(TIME_STEPS):
        _, state = module(images, state)
    for name, expected in spikes.items():
        assert torch.equal(torch.stack(recorded[name]), expected), name


def test_ssa_file_fails_plain_nir_read_naming_the_extension_and_the_reader(tmp_path):
    path = tmp_path / "ssa.nir"
    export_nir(firing_student("ssa"), path)
    with pytest.raises(Exception) as info:
        nir.read(path)
    assert not isinstance(info.value, AssertionError)
    assert "SpikingSelfAttention" in str(info.value) and "export.read_graph" in str(info.value)
    assert isinstance(read_graph(path).nodes["blocks.0.attn.ssa"].num_heads, int)


def test_lif_nodes_carry_per_neuron_euler_parameters(tmp_path):
    graph = export_nir(firing_student("sdsa"), tmp_path / "g.nir")
    q_lif, attn_lif = graph.nodes["blocks.0.attn.q_lif"], graph.nodes["blocks.0.attn.attn_lif"]
    assert q_lif.tau.shape == (32, 8) and attn_lif.v_threshold.shape == (32, 1)
    np.testing.assert_array_equal(q_lif.tau, np.full((32, 8), 2e-3))
    np.testing.assert_array_equal(q_lif.r, 1.0)
    np.testing.assert_array_equal(attn_lif.v_threshold, 0.5)
    np.testing.assert_array_equal(q_lif.v_threshold, 1.0)
