"""Mappings of small graphs counted by hand on invented chips, the demo student on Loihi 2, and bad input."""

import nir
import numpy as np
import pytest
from chip_fixtures import dense_graph, lif, toy_chip
from spiking_fixtures import firing_student

from export import lower_spikingformer, write_graph
from hw_sim.chip.mapping import map_graph
from hw_sim.chip.profile import load_chip
from snnpar.errors import UserError


def host_graph(n_in: int, n_out: int) -> nir.NIRGraph:
    """image (host) -> Affine (all ones) -> LIF -> output: the LIF is the only population."""
    nodes = {"input": nir.Input(input_type=np.array([n_in])), "fc": nir.Affine(weight=np.ones((n_out, n_in)), bias=np.zeros(n_out)),
             "lif": lif((n_out,)), "output": nir.Output(output_type=np.array([n_out]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_eight_neurons_take_exactly_two_cores_of_four(tmp_path):
    mapping = map_graph(host_graph(8, 8), load_chip(toy_chip(tmp_path, neurons=4)))
    layer = mapping.layers["lif"]
    assert mapping.cores == 2 and layer.cores == 2 and mapping.fits_one_chip
    # each core: 4 neurons, each reading all 8 inputs -> fan-in 8, 32 synapses; per input axon 4 synapses of
    # 8 bits + a 10-bit header = 42 bits, one 64-bit word: 8 axons x 64 bits
    assert layer.max_fan_in == 8 and layer.synapses == 64 and layer.max_memory_bits == 8 * 64


def test_memory_alone_forces_a_second_core(tmp_path):
    one = map_graph(host_graph(8, 8), load_chip(toy_chip(tmp_path, neurons=8)))
    assert one.cores == 1 and one.layers["lif"].max_memory_bits == 8 * 128  # 8 x 8 + 10 = 74 bits -> two words
    two = map_graph(host_graph(8, 8), load_chip(toy_chip(tmp_path, neurons=8, memory=600)))
    assert two.cores == 2 and two.layers["lif"].max_memory_bits == 512


def test_a_neuron_whose_fan_in_exceeds_a_core_is_reported_not_mapped(tmp_path):
    mapping = map_graph(host_graph(8, 1), load_chip(toy_chip(tmp_path, fan_in=4)))
    layer = mapping.layers["lif"]
    assert not layer.fits and layer.cores is None and "fan-in 8 input axons per core > 4" in layer.reason
    assert not mapping.fits_board and "does not map" in mapping.verdict()


def test_convolution_tiles_by_hand(tmp_path):
    """1 x 4 x 4 image -> conv 3x3, pad 1, 2 channels -> 32 LIF neurons; 8 neurons per core."""
    weight = np.ones((2, 1, 3, 3))
    nodes = {"input": nir.Input(input_type=np.array([1, 4, 4])),
             "conv": nir.Conv2d(input_shape=(4, 4), weight=weight, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2)),
             "lif": lif((2, 4, 4)), "output": nir.Output(output_type=np.array([2, 4, 4]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")])
    chip = load_chip(toy_chip(tmp_path, neurons=8))
    layer = map_graph(graph, chip).layers["lif"]
    tiling = layer.tiling
    assert (tiling.channels, tiling.rows, tiling.columns, layer.cores) == (1, 2, 4, 4)
    # rows 0-1 read input rows 0-2 (3 x 4 pixels); taps that land inside: 2 + 3 rows x (2 + 3 + 3 + 2) columns = 50
    assert layer.max_fan_in == 12 and layer.tile_synapses.tolist() == [50] * 4
    assert layer.synapses == 4 * 9  # a shared 3x3 kernel per core
    explicit = map_graph(graph, chip, shared_weights=False).layers["lif"]
    assert explicit.synapses == 2 * 100  # every synapse: 2 channels x the border-aware 10 x 10


def test_the_demo_student_fits_one_loihi2_chip_and_names_what_is_not_native():
    for attention in ("ssa", "sdsa"):
        graph = lower_spikingformer(firing_student(attention, image_size=(128, 64)))
        mapping = map_graph(graph, load_chip("loihi2"))
        assert mapping.fits_one_chip and mapping.cores > 0
        attention_nodes = [x for x in mapping.not_native if x.nir_type == "SpikingSelfAttention"]
        if attention == "ssa":
            assert len(attention_nodes) == 1 and len(attention_nodes[0].options) == 3
            assert any("SDSA" in o for o in attention_nodes[0].options)
        else:
            assert not attention_nodes  # thresholds and synapses only
        assert mapping.host and mapping.host[0].node == "head"  # the readout integrates, the host applies the head
    loihi = map_graph(graph, load_chip("loihi"))
    assert any(x.node == "tokenizer.proj_conv" for x in loihi.not_native)  # binary spikes only: the image is not native


@pytest.mark.slow
def test_a_full_size_student_breaks_the_fan_in_limit_where_the_architecture_says():
    """snnpar-8-384 (the 8-768 map is the same structure at twice the width; README has its figures)."""
    from hw_sim.chip.cli_map import preset_graph

    mapping = map_graph(preset_graph("snnpar-8-384"), load_chip("loihi2"))
    d, depth = 384, 8
    # block 0's input neurons read tokenizer.proj4_conv only: a 3x3 kernel over D channels, within 4,096
    assert mapping.layers["blocks.0.attn.proj_lif"].fits and mapping.layers["blocks.0.attn.proj_lif"].max_fan_in == 9 * d
    first = mapping.unmappable[0]
    assert first.name == "blocks.1.attn.proj_lif" and first.max_fan_in == 9 * d + d + 4 * d  # + attn.proj + mlp2
    # the residual stream grows by attn.proj (D inputs) and mlp2 (4D inputs) per block
    assert mapping.layers["head.integrators"].max_fan_in == 9 * d + depth * (d + 4 * d)
    assert all(mapping.layers[f"blocks.{j}.attn.{r}_lif"].fits for j in range(depth) for r in "qkv")


def test_unsupported_nodes_and_bad_options_are_user_errors(tmp_path):
    graph = dense_graph(4, 4)
    graph.nodes["fc"] = nir.Scale(scale=np.ones(4))
    with pytest.raises(UserError, match="node 'fc': NIR type Scale cannot be mapped"):
        map_graph(graph, load_chip("loihi2"))
    with pytest.raises(UserError, match="--weight-bits 12"):
        map_graph(dense_graph(4, 4), load_chip("loihi2"), weight_bits=12)


def test_cli_writes_json_and_a_graph_too_big_for_the_board_ends_as_one_line(tmp_path, capsys):
    from snnpar.cli import main

    path = write_graph(host_graph(8, 8), tmp_path / "g.nir")
    chip = toy_chip(tmp_path, neurons=4, cores=2, mesh_width=2)
    assert main(["map", str(path), "--chip", str(chip), "--out", str(tmp_path / "m.json")]) == 0
    assert "fits one chip: 2 cores of 2" in capsys.readouterr().out and (tmp_path / "m.json").exists()
    small = toy_chip(tmp_path, neurons=4, cores=1, mesh_width=1, board=1)
    assert main(["map", str(path), "--chip", str(small)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the graph does not fit even the largest") and err.strip().count("\n") == 0
    assert main(["map", str(path), "--chip", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: no such file" in capsys.readouterr().err
