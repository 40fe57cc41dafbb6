"""Graph-based operation counting on hand-built NIR graphs; every expected figure is worked out by hand."""

import nir
import numpy as np
import pytest

from hw_sim.analysis.energy import count_operations, synapse_fanout
from hw_sim.analysis.energy_profiles import PROFILES


def conv2d(weight, stride=1, padding=1, groups=1, input_shape=(4, 4)):
    weight = np.asarray(weight, dtype=float)
    return nir.Conv2d(input_shape=input_shape, weight=weight, stride=stride, padding=padding, dilation=1,
                      groups=groups, bias=np.zeros(weight.shape[0]))


def lif(shape):
    z = np.zeros(shape)
    return nir.LIF(tau=z + 2e-3, r=z + 1, v_leak=z, v_threshold=z + 1)


def test_conv_fanout_counts_fewer_targets_at_the_borders():
    fan = synapse_fanout(conv2d(np.ones((1, 1, 3, 3))), (1, 4, 4))
    per_axis = np.array([2, 3, 3, 2])  # windows covering index 0..3 with 3 taps and padding 1
    np.testing.assert_array_equal(fan[0], np.outer(per_axis, per_axis))


def test_conv_fanout_with_stride_two_and_output_channels():
    fan = synapse_fanout(conv2d(np.ones((3, 1, 3, 3)), stride=2, input_shape=(5, 5)), (1, 5, 5))
    per_axis = np.array([1, 2, 1, 2, 1])  # outputs centred on 0, 2, 4; odd inputs sit between two of them
    np.testing.assert_array_equal(fan[0], 3 * np.outer(per_axis, per_axis))


def test_conv_fanout_respects_groups_and_zero_weights():
    weight = np.ones((4, 2, 1, 1))  # groups=2: output channels 0,1 read inputs 0,1; outputs 2,3 read inputs 2,3
    weight[3, 1, 0, 0] = 0.0  # input channel 3 loses its synapse to output 3
    fan = synapse_fanout(conv2d(weight, padding=0, groups=2, input_shape=(2, 2)), (4, 2, 2))
    np.testing.assert_array_equal(fan[:, 0, 0], [2, 2, 2, 1])


def test_sumpool_fanout_counts_covering_windows():
    pool = nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1]))
    fan = synapse_fanout(pool, (2, 4, 4))
    per_axis = np.array([1, 2, 1, 1])  # two windows, centred on 0 and 2
    np.testing.assert_array_equal(fan[1], np.outer(per_axis, per_axis))


def test_affine_fanout_is_the_nonzero_count_of_each_input_column():
    weight = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, 0.0]])
    fan = synapse_fanout(nir.Affine(weight=weight, bias=np.zeros(2)), (3,))
    np.testing.assert_array_equal(fan, [2, 0, 1])


def small_graph():
    """image -> conv (encoder) -> LIF -> max-pool as SumPool+Threshold -> flatten -> affine -> LIF."""
    pool = nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1]))
    weight = np.ones((2, 4))
    weight[1, 3] = 0.0
    nodes = {
        "input": nir.Input(input_type=np.array([1, 4, 4])),
        "enc": conv2d(np.ones((1, 1, 3, 3))),
        "lif1": lif((1, 4, 4)),
        "pool": pool,
        "pool_th": nir.Threshold(threshold=np.full((1, 2, 2), 0.5)),
        "flat": nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=0),
        "fc": nir.Affine(weight=weight, bias=np.zeros(2)),
        "lif2": lif((2,)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "enc"), ("enc", "lif1"), ("lif1", "pool"), ("pool", "pool_th"), ("pool_th", "flat"),
             ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def small_spikes():
    lif1 = np.zeros((2, 1, 1, 4, 4))  # T=2, B=1
    lif1[0, 0, 0, 0, 0] = 1  # corner: pool fan-out 1, reaches pool window (0, 0)
    lif1[0, 0, 0, 1, 1] = 1  # fan-out 2 x 2 = 4, reaches all four windows
    lif1[1, 0, 0, 3, 3] = 1  # fan-out 1, reaches window (1, 1)
    lif2 = np.zeros((2, 1, 2))
    lif2[1, 0, 0] = 1
    return {"lif1": lif1, "lif2": lif2}


def test_count_operations_by_hand_on_a_small_graph():
    count = count_operations(small_graph(), small_spikes())
    n = count.nodes
    assert n["enc"].macs == 2 * 100  # sum of the border-aware fan-out (2+3+3+2)^2, at each of 2 steps
    assert n["enc"].encoder and n["enc"].synaptic_ops == 0
    assert n["pool"].synaptic_ops == 1 + 4 + 1
    # step 0: all four pool windows fire; step 1: window (1,1) (flattened index 3) fires.
    # fc column fan-outs are [2, 2, 2, 1]: 2+2+2+1 at step 0, 1 at step 1.
    assert n["fc"].synaptic_ops == 7 + 1
    assert n["pool_th"].output_spikes == 5
    assert n["lif1"].neuron_updates == 16 * 2 and n["lif2"].neuron_updates == 2 * 2
    assert n["lif1"].output_spikes == 3 and n["lif1"].firing_rate == pytest.approx(3 / 32)
    assert count.synaptic_ops == 6 + 8 and count.macs == 200
    once = count_operations(small_graph(), small_spikes(), encoder_per_step=False)
    assert once.macs == 100 and once.synaptic_ops == count.synaptic_ops
    no_pool = count_operations(small_graph(), small_spikes(), count_pooling=False)
    assert no_pool.synaptic_ops == 8


def test_counts_are_per_image_and_accept_batchless_spikes():
    spikes = small_spikes()
    batchless = {k: v[:, 0] for k, v in spikes.items()}
    doubled = {k: np.concatenate([v, v], axis=1) for k, v in spikes.items()}
    a, b, c = (count_operations(small_graph(), s) for s in (spikes, batchless, doubled))
    assert a.synaptic_ops == b.synaptic_ops == c.synaptic_ops and c.images == 2


def test_energy_prices_acs_and_macs():
    count = count_operations(small_graph(), small_spikes())
    fp32 = PROFILES["45nm-fp32"]
    assert count.energy_joules(fp32) == pytest.approx((14 * 0.9 + 200 * 4.6) * 1e-12)
    updates = 32 + 4 + 8  # lif1 (16 x 2 steps), lif2 (2 x 2), pool_th (4 x 2)
    assert count.neuron_updates == updates
    loihi = PROFILES["loihi"]
    assert count.energy_joules(loihi, count_neuron_updates=True) == pytest.approx(((14 + 200) * 23.6 + updates * 52) * 1e-12)


def test_missing_or_bad_spikes_are_named():
    spikes = small_spikes()
    with pytest.raises(KeyError, match="lif2"):
        count_operations(small_graph(), {"lif1": spikes["lif1"]})
    with pytest.raises(ValueError, match="not binary"):
        count_operations(small_graph(), {**spikes, "lif1": spikes["lif1"] * 0.7})
    with pytest.raises(KeyError, match="nosuch"):
        count_operations(small_graph(), {**spikes, "nosuch": spikes["lif2"]})


def test_stacked_linear_fanout_is_per_channel():
    """SDSA's token sum, weight [C, 1, N], and broadcast, [C, N, 1]: one matrix per channel."""
    token_sum = nir.Linear(weight=np.ones((2, 1, 3)))
    np.testing.assert_array_equal(synapse_fanout(token_sum, (2, 3)), np.ones((2, 3)))
    broadcast = nir.Linear(weight=np.ones((2, 3, 1)))
    np.testing.assert_array_equal(synapse_fanout(broadcast, (2, 1)), np.full((2, 1), 3.0))


def test_the_head_on_a_sum_of_synapses_is_charged_the_composed_events():
    """spikes -> two Affines summed -> a readout Affine: each spike reaches the readout outputs its paths reach."""
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "s": lif((3,)),
        "a": nir.Affine(weight=np.array([[1.0, 0, 0], [0, 1, 0]]), bias=np.zeros(2)),
        "b": nir.Affine(weight=np.array([[0.0, 0, 1], [0, 0, 0]]), bias=np.zeros(2)),
        "head": nir.Affine(weight=np.array([[1.0, 0], [1.0, 1.0]]), bias=np.array([0.0, 2.0])),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "s"), ("s", "a"), ("s", "b"), ("a", "head"), ("b", "head"), ("head", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    spikes = {"s": np.array([[[1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]]])}  # T=2
    count = count_operations(graph, spikes, count_bias=True)
    head = count.nodes["head"]
    # through a: s0 -> a0 -> both outputs (2), s1 -> a1 -> output 1 (1); through b: s2 -> b0 -> both (2)
    assert head.composed and head.macs == 0
    assert head.synaptic_ops == (2 + 1 + 2) + 2  # step 0: all three spike; step 1: s0 only
    assert head.dense_ops == 2 * (2 + 1) + 2 * (0 + 0 + 2)  # per step: a's sources (2, 1, 0) + b's (0, 0, 2)
    assert head.bias_adds == 1 * 2  # one nonzero bias, two steps
