"""Small invented chips (profiles written as users write them) and small graphs whose mapping is counted by hand."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from hw_sim.chip.profile import EXAMPLE

TOY_CHIP = """
name = "toy"
title = "toy chip (invented for hand-counted tests)"

[sources]
hand = "chosen by hand for the test"

[chip]
cores = {{ value = {cores}, source = "hand" }}
mesh_width = {{ value = {mesh_width}, source = "hand" }}
mesh_height = {{ value = 1, source = "hand" }}
cores_per_router = {{ value = 1, source = "hand" }}
graded_spikes = {{ value = true, source = "hand" }}
programmable_neurons = {{ value = false, source = "hand" }}

[core]
neurons = {{ value = {neurons}, source = "hand" }}
fan_in_axons = {{ value = {fan_in}, source = "hand" }}
fan_out_axons = {{ value = 4096, source = "hand" }}
memory_bits = {{ value = {memory}, source = "hand" }}
neuron_state_bits = {{ value = 0, source = "hand" }}
max_weight_bits = {{ value = 8, source = "hand" }}
synapse_word_bits = {{ value = 64, source = "hand" }}
synapse_header_bits = {{ value = 10, source = "hand" }}
synapses_per_header = {{ value = 64, source = "hand" }}
shared_conv_weights = {{ value = true, source = "hand" }}

[energy]
synaptic_op_conv = {{ value = 1.0, source = "hand" }}
synaptic_op_dense = {{ value = 1.0, source = "hand" }}
neuron_update = {{ value = 1.0, source = "hand" }}
spike_out = {{ value = 1.0, source = "hand" }}
message = {{ value = 1.0, source = "hand" }}
hop_east_west = {{ value = 1.0, source = "hand" }}
hop_north_south = {{ value = 1.0, source = "hand" }}
static_power_per_chip = {{ value = 0.0, source = "hand" }}

[time]
synaptic_op_conv = {{ value = 1.0, source = "hand" }}
synaptic_op_dense = {{ value = 1.0, source = "hand" }}
neuron_update = {{ value = 1.0, source = "hand" }}
spike_out = {{ value = 1.0, source = "hand" }}
message = {{ value = 1.0, source = "hand" }}
message_in = {{ value = 1.0, source = "hand" }}
hop_east_west = {{ value = 1.0, source = "hand" }}
hop_north_south = {{ value = 1.0, source = "hand" }}
barrier_sync = {{ table = {{ "1" = 0.0 }}, source = "hand" }}

[[boards]]
name = "toy board"
chips = {board}
source = "hand"
"""


def toy_chip(folder: Path, cores=16, neurons=4, fan_in=64, memory=1 << 20, mesh_width=16, board=1) -> Path:
    path = Path(folder) / "toy.toml"
    path.write_text(TOY_CHIP.format(cores=cores, neurons=neurons, fan_in=fan_in, memory=memory, mesh_width=mesh_width,
                                    board=board))
    return path


def lif(shape):
    z = np.zeros(shape)
    return nir.LIF(tau=z + 2e-3, r=z + 1, v_leak=z, v_threshold=z + 1, v_reset=z)


def dense_graph(n_in: int, n_out: int, weight=None) -> nir.NIRGraph:
    """spiking input population -> Affine -> LIF -> output."""
    weight = np.ones((n_out, n_in)) if weight is None else weight
    nodes = {"input": nir.Input(input_type=np.array([n_in])), "a": lif((n_in,)),
             "fc": nir.Affine(weight=weight, bias=np.zeros(n_out)), "b": lif((n_out,)),
             "output": nir.Output(output_type=np.array([n_out]))}
    edges = [("input", "a"), ("a", "fc"), ("fc", "b"), ("b", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def profile_text() -> str:
    return EXAMPLE.read_text()
