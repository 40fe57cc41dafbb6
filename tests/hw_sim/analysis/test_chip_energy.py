"""Chip-level energy reproduces SANA-FE's per-event model of Loihi (figures typed in from its arch/loihi.yaml
and Davies et al. 2018) on a small graph counted by hand, and the same counter serves every spike source."""

import nir
import numpy as np
import pytest
from chip_fixtures import lif
from spiking_fixtures import active_tiny_student

from export import lower_spikingformer
from export.executor import run_graph
from hw_sim.analysis.chip_energy import chip_energy
from hw_sim.analysis.energy import count_operations, spike_counts
from hw_sim.chip.mapping import map_graph
from hw_sim.chip.profile import load_chip

T = 2
# SANA-FE arch/loihi.yaml (SLAM-Lab/SANA-FE): dense synapse 35.5 pJ; soma access 51.2 pJ + update 21.6 pJ;
# spike out 69.3 pJ; axon out (message) 111 pJ; east-west hop 3.0 pJ.  Davies et al. 2018, Table 2:
# min synaptic op 23.6 pJ, inactive neuron update 52 pJ.
SANAFE = dict(synapse=35.5e-12, neuron=51.2e-12 + 21.6e-12, spike=69.3e-12, message=111e-12, hop=3.0e-12)
DAVIES = dict(synapse=23.6e-12, neuron=52e-12)


def four_to_one_graph():
    """4,096 neurons (four Loihi cores, one router) -> each of 1,024 neurons reads 4 of them (one core, next router)."""
    weight = np.zeros((1024, 4096))
    weight[np.repeat(np.arange(1024), 4), np.arange(4096)] = 1.0
    nodes = {"input": nir.Input(input_type=np.array([4096])), "a": lif((4096,)),
             "fc": nir.Affine(weight=weight, bias=np.zeros(1024)), "b": lif((1024,)), "output": nir.Output(output_type=np.array([1024]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("a", "fc"), ("fc", "b"), ("b", "output")])


@pytest.fixture(scope="module")
def small_run():
    graph = four_to_one_graph()
    rng = np.random.default_rng(3)
    spikes = {"a": (rng.random((T, 1, 4096)) < 0.1).astype(float), "b": (rng.random((T, 1, 1024)) < 0.2).astype(float)}
    mapping = map_graph(graph, load_chip("loihi"))
    return graph, spikes, mapping, chip_energy(mapping, count_operations(graph, spikes), spike_counts(graph, spikes))


def test_the_small_graph_maps_to_four_cores_plus_one_on_the_next_router(small_run):
    _, _, mapping, _ = small_run
    assert mapping.layers["a"].cores == 4 and mapping.layers["b"].cores == 1 and mapping.layers["b"].max_fan_in == 4096
    assert mapping.placement.hops(0, 4) == (1, 0) and mapping.placement.hops(0, 3) == (0, 0)


def test_energy_is_sanafes_per_event_model_of_loihi(small_run):
    _, spikes, _, energy = small_run
    a, b = spikes["a"].sum(), spikes["b"].sum()
    updates = (4096 + 1024) * T
    # every spike of a crosses one synapse and is one message to b's core, one router east
    expected = {"synaptic": a * SANAFE["synapse"], "neuron_updates": updates * SANAFE["neuron"],
                "spikes_out": (a + b) * SANAFE["spike"], "messages": a * SANAFE["message"], "router_hops": a * SANAFE["hop"],
                "static": 0.0}
    for term, value in expected.items():
        assert energy.energy["typical"][term] == pytest.approx(value, rel=1e-12), term
    low = energy.energy["low"]
    assert low["synaptic"] == pytest.approx(a * DAVIES["synapse"]) and low["neuron_updates"] == pytest.approx(updates * DAVIES["neuron"])
    assert energy.counts["messages"] == a and energy.counts["hops_east_west"] == a and energy.counts["hops_north_south"] == 0


def test_time_per_step_is_the_busiest_core_plus_route_and_barrier(small_run):
    _, spikes, mapping, energy = small_run
    chip = mapping.chip
    t = {k: chip.time[k].typical for k in ("synaptic_op_dense", "neuron_update", "spike_out", "message_in")}
    a, b = spikes["a"].sum(), spikes["b"].sum()
    busiest = (a * t["synaptic_op_dense"] + 1024 * T * t["neuron_update"] + b * t["spike_out"] + a * t["message_in"]) / T
    route, barrier = chip.time["hop_east_west"].typical, 1.0e-6  # SANA-FE: 2 routers in use -> 1.0 us
    assert energy.step_time["typical"] == pytest.approx(busiest + route + barrier)
    assert energy.stream_time() == pytest.approx(T * energy.step_time["typical"])
    assert energy.latency() == pytest.approx((T + mapping.depth) * energy.step_time["typical"]) and mapping.depth == 1


def test_norse_and_the_reference_executor_give_the_same_chip_energy():
    import torch

    from snnpar.models.recording import record_spikes

    model = active_tiny_student().double()
    graph = lower_spikingformer(model)
    images = torch.randn(1, 3, 128, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), record_spikes(model) as norse:
        model(images)
    outputs = run_graph(graph, images)
    executor = {name: outputs[name].numpy() for name in norse}
    mapping = map_graph(graph, load_chip("loihi2"))
    results = [chip_energy(mapping, count_operations(graph, s), spike_counts(graph, s)) for s in (dict(norse), executor)]
    assert results[0].total() > 0 and results[0].to_dict() == results[1].to_dict()
    assert "blocks.0.attn.ssa" in results[0].not_priced  # the SSA product is counted, not priced on the chip


def test_a_graph_that_does_not_map_has_no_chip_energy(tmp_path):
    from chip_fixtures import toy_chip

    graph = four_to_one_graph()
    mapping = map_graph(graph, load_chip(toy_chip(tmp_path, fan_in=2, neurons=4096)))
    spikes = {"a": np.zeros((T, 1, 4096)), "b": np.zeros((T, 1, 1024))}
    with pytest.raises(ValueError, match="do not fit a core"):
        chip_energy(mapping, count_operations(graph, spikes), spike_counts(graph, spikes))
