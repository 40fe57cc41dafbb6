"""The exact event count on the exported tiny student: cross-checked by independent formulas, and equal
whether the spikes come from Norse, the NIR reference executor or the Lava float simulation."""

import importlib

import numpy as np
import pytest
import torch
from spiking_fixtures import active_tiny_student

from export import lower_spikingformer
from export.executor import run_graph
from hw_sim.analysis.chip_energy import chip_energy
from hw_sim.analysis.energy import count_operations, spike_counts
from hw_sim.analysis.spikformer_energy import count_spikformer_operations
from hw_sim.chip.mapping import map_graph
from hw_sim.chip.profile import load_chip
from snnpar.models.recording import record_spikes


@pytest.fixture(scope="module")
def student_run():
    model = active_tiny_student().double()
    graph = lower_spikingformer(model)
    images = torch.randn(1, 3, 128, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), record_spikes(model) as spikes:
        model(images)
    return model, graph, images, {k: v.numpy() for k, v in spikes.items()}


def test_exact_count_agrees_with_independent_formulas(student_run):
    model, graph, images, spikes = student_run
    count = count_operations(graph, spikes)
    t = 4
    # encoder: 4 output channels x 3 input channels x valid taps per axis (3 per pixel minus 2 at the borders)
    assert count.nodes["tokenizer.proj_conv"].macs == t * 4 * 3 * (3 * 128 - 2) * (3 * 64 - 2)
    assert count.nodes["tokenizer.proj_conv"].encoder
    # 1x1 token convs have no borders: the exact count equals the rate convention's MACs x firing rate
    convention = {layer.name: layer.acs for layer in count_spikformer_operations(model, images).layers}
    for conv in ("blocks.0.attn.q", "blocks.0.attn.proj", "blocks.0.mlp.mlp1", "blocks.0.mlp.mlp2"):
        assert count.nodes[conv].synaptic_ops == pytest.approx(convention[f"{conv}.0"], rel=1e-9)
    # SSA with k^T v first: entries of K^T V summed (active pairs) plus d per active q, per head and step
    q, k, v = (torch.as_tensor(spikes[f"blocks.0.attn.{r}_lif"]).reshape(t, 1, 2, 16, 32) for r in "qkv")
    expected = float((k @ v.transpose(-1, -2)).sum() + 16 * q.sum())
    assert count.nodes["blocks.0.attn.ssa"].synaptic_ops == pytest.approx(expected)
    assert count.nodes["tokenizer.proj1_lif"].neuron_updates == t * 4 * 128 * 64


def test_norse_and_reference_executor_give_the_same_count(student_run):
    _model, graph, images, spikes = student_run
    outputs = run_graph(graph, images)
    executor_spikes = {name: outputs[name].numpy() for name in spikes}
    a, b = count_operations(graph, spikes), count_operations(graph, executor_spikes)
    assert a.synaptic_ops > 0
    assert {n: o.synaptic_ops for n, o in a.nodes.items()} == {n: o.synaptic_ops for n, o in b.nodes.items()}


def test_norse_and_lava_float_give_the_same_count_and_chip_energy(student_run):
    _model, graph, images, spikes = student_run
    result = importlib.import_module("hw_sim.simulator.simulation").run(graph, images.numpy(), mode="float", progress=False)
    lava = {name: result.spikes[name] for name in spikes}
    a, b = count_operations(graph, spikes), count_operations(graph, lava)
    for name in a.nodes:
        assert (a.nodes[name].synaptic_ops, a.nodes[name].macs, a.nodes[name].output_spikes) == \
            (b.nodes[name].synaptic_ops, b.nodes[name].macs, b.nodes[name].output_spikes), name
    assert np.isclose(a.synaptic_ops, b.synaptic_ops) and a.synaptic_ops > 0
    # the chip-level model reads the same counter: one answer for both spike sources
    mapping = map_graph(graph, load_chip("loihi2"))
    e_norse, e_lava = (chip_energy(mapping, c, spike_counts(graph, s)) for c, s in ((a, spikes), (b, lava)))
    assert e_norse.total() == pytest.approx(e_lava.total()) and e_norse.counts == pytest.approx(e_lava.counts)
