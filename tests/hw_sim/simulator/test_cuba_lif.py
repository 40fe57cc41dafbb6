"""Current-based LIF (NIR CubaLIF / CubaLI) in Lava: the synaptic current becomes Lava's u (du = dt/tau_syn).
Float spikes equal the reference executor's; fixed point equals the integer evaluator bit for bit; a synapse
bias enters through the current, as NIR's CubaLIF says (a hand-computed case)."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from export.executor import run_graph
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.simulator.lowering import lower
from hw_sim.simulator.simulation import run

T = 12


def cuba_graph(bias: bool = False) -> nir.NIRGraph:
    """spikes (6) -> affine -> CubaLIF (8) -> affine -> CubaLI (3) -> output. dt = 1 and taus 4, 2 (b = 0.25,
    a = 0.5) and weights in eighths keep float arithmetic exact, so spike equality is not luck with rounding."""
    rng = np.random.default_rng(7)
    full = lambda shape, v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type=np.array([6])),
        "fc1": nir.Affine(weight=np.round(rng.normal(0.6, 0.8, (8, 6)) * 8) / 8,
                          bias=full(8, 0.25 if bias else 0.0)),
        "cuba": nir.CubaLIF(tau_syn=full(8, 4.0), tau_mem=full(8, 2.0), r=full(8, 1.0), v_leak=full(8, 0.0),
                            v_threshold=full(8, 0.5), v_reset=full(8, 0.0), w_in=full(8, 2.0)),
        "fc2": nir.Linear(weight=np.round(rng.normal(0.0, 0.8, (3, 8)) * 8) / 8),
        "readout": nir.CubaLI(tau_syn=full(3, 2.0), tau_mem=full(3, 4.0), r=full(3, 1.0), v_leak=full(3, 0.0),
                              w_in=full(3, 1.0)),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [("input", "fc1"), ("fc1", "cuba"), ("cuba", "fc2"), ("fc2", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1.0, "time_steps": T})


@pytest.fixture(scope="module")
def spikes_in():
    return (np.random.default_rng(8).random((2, T, 6)) < 0.4).astype(np.float64)


def test_cuba_lif_float_equals_the_executor(spikes_in):
    graph = cuba_graph()
    ref = {k: v.numpy() for k, v in run_graph(graph, spikes_in.swapaxes(0, 1), T=T).items()}  # [T, B, ...]
    result = run(graph, spikes_in, mode="float", progress=False)
    assert 0.05 < ref["cuba"].mean() < 0.95
    np.testing.assert_array_equal(result.spikes["cuba"], ref["cuba"].astype(np.uint8))
    # the current carries input over steps: a plain LIF with the same input would fire differently
    lowered = lower(graph)
    assert lowered.nodes["cuba"].current_decay == 0.25 and lowered.nodes["readout"].current_decay == 0.5
    np.testing.assert_allclose(result.logits, ref["output"].mean(axis=0), rtol=0, atol=1e-12)


def test_cuba_lif_fixed_point_equals_the_integer_evaluator(spikes_in):
    graph = cuba_graph()
    fixed = run(graph, spikes_in, mode="fixed", progress=False)
    integer = evaluate(lower(graph), fixed.quantization, spikes_in, T)
    np.testing.assert_array_equal(fixed.spikes["cuba"], spikes_numpy(integer)["cuba"])
    # the non-spiking CubaLI readout: its voltage, the same integers, gives the same logits
    np.testing.assert_allclose(integer.logits.numpy(), fixed.logits, rtol=0, atol=1e-12)
    assert fixed.quantization.neurons["cuba"].du == 1023  # 0.25 * 4096 - 1: Lava adds the hidden 1
    floating = run(graph, spikes_in, mode="float", progress=False)
    assert (fixed.spikes["cuba"] == floating.spikes["cuba"]).mean() > 0.95
    print("\nfixed vs float readout (CubaLI voltage):", fixed.logits.ravel(), floating.logits.ravel())
    np.testing.assert_allclose(fixed.logits, floating.logits, rtol=0, atol=1e-3)


def _bias_only_graph() -> nir.NIRGraph:
    """input -> Affine (weight 0, bias 1) -> CubaLIF (dt = 1, tau_syn = tau_mem = 2: b = a = 0.5, r = w_in = 1,
    threshold 0.6): only the bias drives it."""
    one = np.ones(1)
    nodes = {"input": nir.Input(input_type=np.array([1])), "fc": nir.Affine(weight=np.zeros((1, 1)), bias=one),
             "cuba": nir.CubaLIF(tau_syn=2 * one, tau_mem=2 * one, r=one, v_leak=0 * one, v_threshold=0.6 * one,
                                 v_reset=0 * one, w_in=one),
             "output": nir.Output(output_type=np.array([1]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "cuba"), ("cuba", "output")],
                        metadata={"dt": 1.0, "time_steps": 5})


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_a_bias_enters_the_current_as_nir_says(mode):
    # by hand, i <- i + 0.5 (1 - i), v <- v + 0.5 (i - v): i = .5, .75, .875, .9375, .96875;
    # v = .25, .5, .6875 (> .6: spike, v = 0), .46875, .71875 (spike). The bias on v instead (Lava's own bias,
    # gain * 1 = .25 a step) would give v = .25, .375, .4375, .46875, .484375: no spike at all.
    graph = _bias_only_graph()
    assert run_graph(graph, np.ones((1, 1)))["cuba"][:, 0, 0].tolist() == [0, 0, 1, 0, 1]
    net = lower(graph)
    assert net.nodes["cuba"].current_bias.tolist() == [0.25] and net.nodes["cuba"].bias.tolist() == [0.0]
    lava = run(graph, np.ones((2, 1)), mode=mode, progress=False)
    np.testing.assert_array_equal(lava.spikes["cuba"][:, :, 0].T, [[0, 0, 1, 0, 1]] * 2)


def test_cuba_lif_with_biases_equals_the_executor_in_float_and_the_evaluator_in_fixed_point(spikes_in):
    graph = cuba_graph(bias=True)
    ref = run_graph(graph, spikes_in.swapaxes(0, 1), T=T)["cuba"].numpy().astype(np.uint8)
    assert not np.array_equal(ref, run_graph(cuba_graph(), spikes_in.swapaxes(0, 1), T=T)["cuba"].numpy().astype(np.uint8))
    np.testing.assert_array_equal(run(graph, spikes_in, mode="float", progress=False).spikes["cuba"], ref)
    fixed = run(graph, spikes_in, mode="fixed", progress=False)
    assert np.any(fixed.quantization.neurons["cuba"].current_bias)
    integer = evaluate(lower(graph), fixed.quantization, spikes_in, T)
    np.testing.assert_array_equal(fixed.spikes["cuba"], spikes_numpy(integer)["cuba"])
