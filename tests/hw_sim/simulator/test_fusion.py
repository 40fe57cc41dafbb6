"""Chains of layers share one Lava process (FusedChain running each member's own ProcessModel): the grouping
follows the graph, and a fused network gives bit for bit what one process per layer gives, float and fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spiking_fixtures import IMAGE_SIZE, firing_student

from export import export_nir, read_graph
from hw_sim.simulator.delays import align_branch_delays
from hw_sim.simulator.fusion import consumers, fusable_chains
from hw_sim.simulator.lowering import Neurons, Synapse, lower
from hw_sim.simulator.simulation import run


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("fusion") / "student.nir"
    export_nir(firing_student("sdsa", seed=4, num_attributes=4), path)
    return read_graph(path)


def test_chains_are_maximal_runs_without_branches(graph):
    net = lower(graph)
    align_branch_delays(net)
    chains = fusable_chains(net)
    readers = consumers(net)
    tokenizer = next(c for c in chains if c[0] == "tokenizer.proj_conv")
    assert tokenizer[-1] == "tokenizer.proj4_conv" and len(tokenizer) == 17  # conv, then 4 x (lif, pool, pool lif, conv)
    members = [n for c in chains for n in c]
    assert len(members) == len(set(members))
    for chain in chains:
        assert all(isinstance(net.nodes[n], (Synapse, Neurons)) for n in chain)
        for src, dst in zip(chain, chain[1:]):
            assert readers[src] == [dst] and len(net.nodes[dst].inputs) == 1 and net.nodes[dst].inputs[0].delay == 0
    attn = "blocks.0.attn."
    assert [c for c in chains if c is not tokenizer] == [
        [attn + "q", attn + "q_lif"], [attn + "k", attn + "k_lif"], [attn + "v", attn + "v_lif"],
        [attn + n for n in ("q_and_k", "token_sum", "attn_lif", "broadcast")],  # SDSA's AND, sum, LIF, broadcast
        [attn + "v_and_attn", attn + "proj"],  # the AND has two inputs, so it can only start a chain
        ["blocks.0.mlp." + n for n in ("mlp1_lif", "mlp1", "mlp2_lif", "mlp2")],
    ]
    # proj_lif feeds q, k and v; tokenizer.proj4_conv and attn.proj feed the residual stream and the head
    assert "blocks.0.attn.proj_lif" not in members and "head" not in members
    assert "tokenizer.proj3_lif" not in [n for c in fusable_chains(net, frozenset({"tokenizer.proj3_lif"})) for n in c]


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_fused_processes_give_what_one_process_per_layer_gives(graph, mode):
    images = torch.randn(2, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(6)).numpy()
    fused = run(graph, images, mode=mode, progress=False)
    same_format = {"quantization": fused.quantization} if mode == "fixed" else {}
    apart = run(graph, images, mode=mode, progress=False, fuse=False, **same_format)
    assert fused.num_processes < apart.num_processes / 2
    assert fused.spikes.keys() == apart.spikes.keys()
    for name, spikes in apart.spikes.items():
        np.testing.assert_array_equal(fused.spikes[name], spikes, err_msg=f"{mode} {name}")
    assert 0.02 < np.mean([s.mean() for s in apart.spikes.values()]) < 0.98
    # fixed point is exact; in float the head's in-port adds its three inputs in the order Lava lists the
    # channels, which is not fixed from one build to the next (last-bit differences)
    np.testing.assert_allclose(fused.logits, apart.logits, rtol=0, atol=0 if mode == "fixed" else 1e-12)
