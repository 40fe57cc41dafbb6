"""Recurrent NIR graphs in Lava: the NIR paper's Braille graphs (snnTorch-written CubaLIF RNNs, one with biases,
one trained with reset by subtraction) give the executor's and Norse's spikes on every layer in Lava float, and
the integer evaluator's in Lava fixed point; a recurrent edge delivers exactly the previous step, nothing from
the previous image of a stream; cycles inside branches align; cycles are never fused; cycles Lava cannot
delay by exactly one step are refused in one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from recurrent_fixtures import self_inhibiting_if

from export import read_graph
from export.conventions import WriterResetWarning
from export.executor import run_graph
from export.interop import norse_outputs, random_spikes
from hw_sim.analysis.compare import compare_spikes
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.simulator.delays import align_branch_delays
from hw_sim.simulator.fusion import cycle_members, fusable_chains
from hw_sim.simulator.lowering import lower
from hw_sim.simulator.simulation import run
from snnpar.errors import UserError

PAPER = Path(__file__).resolve().parents[2] / "fixtures" / "nir_paper"
BRAILLE = {"braille_noDelay_bias_zero": "zero", "braille_noDelay_noBias_subtract": "subtract"}
DT = 1e-4  # snnTorch's convention; its graphs store none
LAYERS = ("lif1.lif", "lif2")


def fixed_vs_float_agreement(graph: nir.NIRGraph, x: np.ndarray, T: int, reset: str) -> dict:
    """Lava float and Lava fixed point on sequences x [B, T, ...]: {layer: LayerFidelity of fixed against float},
    with both runs (and the integer evaluator's spikes) for the caller's checks."""
    floating = run(graph, x, mode="float", T=T, dt=DT, reset=reset, progress=False)
    fixed = run(graph, x, mode="fixed", T=T, dt=DT, reset=reset, progress=False)
    integer = spikes_numpy(evaluate(lower(graph, dt=DT, reset=reset), fixed.quantization, x, T))
    fidelity = {f.layer: f for f in compare_spikes(floating.spikes, fixed.spikes)}
    return {"float": floating, "fixed": fixed, "integer": integer, "fidelity": fidelity}


@pytest.fixture(scope="module", params=list(BRAILLE))
def braille(request):
    name = request.param
    graph = read_graph(PAPER / f"{name}.nir")
    x = random_spikes(graph, steps=120, batch=3, rate=0.3, seed=1)  # [T, B, 12], as the executor's test
    runs = fixed_vs_float_agreement(graph, x.numpy().swapaxes(0, 1), x.shape[0], BRAILLE[name])
    return name, graph, x, runs


def test_braille_in_lava_float_equals_the_executor_and_norse_on_every_layer(braille):
    name, graph, x, runs = braille
    reset = BRAILLE[name]
    ours = run_graph(graph, x, dt=DT, reset=reset)
    theirs = norse_outputs(graph, x, dt=DT, reset=reset)
    for layer in LAYERS:
        ref = ours[layer].numpy().astype(np.uint8)
        count, rate = int(ref.sum()), float(ref.mean())
        assert count >= 30 and rate < 0.9, f"{layer}: {count} spikes, rate {rate}: the comparison would be vacuous"
        np.testing.assert_array_equal(theirs[layer].numpy().astype(np.uint8), ref, err_msg=f"{name} {layer}: Norse")
        np.testing.assert_array_equal(runs["float"].spikes[layer], ref, err_msg=f"{name} {layer}: Lava float")


def test_braille_in_lava_fixed_point_equals_the_integer_evaluator(braille):
    name, _, _, runs = braille
    assert runs["fixed"].quantization.neurons["lif1.lif"].du != runs["fixed"].quantization.neurons["lif2"].du
    for layer in LAYERS:
        assert runs["fixed"].spikes[layer].sum() >= 30, f"{name} {layer}: too few fixed-point spikes to compare"
        np.testing.assert_array_equal(runs["fixed"].spikes[layer], runs["integer"][layer], err_msg=f"{name} {layer}")
    print(f"\n{name}: Lava fixed point against Lava float, per layer (120 steps, 3 trains, rate 0.3, seed 1)")
    for layer, f in runs["fidelity"].items():
        print(f"  {layer:9s} spike match {f.spike_match_rate:.4f}  count r {f.spike_count_correlation:.3f}  "
              f"spikes float {f.reference_spikes} fixed {f.candidate_spikes}  first divergent step {f.first_divergent_step}")
        assert 0.5 < f.spike_match_rate <= 1.0


def test_the_bias_graph_uses_every_bias_exactly():
    """fc1 and fc2's biases enter the CubaLIF currents every step; lif1.w_rec's from the second step, with the
    recurrent edge's value (the executor adds nothing for a recurrent edge at step 0)."""
    net = lower(read_graph(PAPER / "braille_noDelay_bias_zero.nir"), dt=DT, reset="zero")
    lif1, lif2 = net.nodes["lif1.lif"], net.nodes["lif2"]
    graph = read_graph(PAPER / "braille_noDelay_bias_zero.nir")
    np.testing.assert_allclose(lif1.current_bias, lif1.gain * graph.nodes["fc1"].bias, rtol=1e-12)
    np.testing.assert_allclose(lif1.recurrent_bias, lif1.gain * graph.nodes["lif1.w_rec"].bias, rtol=1e-12)
    np.testing.assert_allclose(lif2.current_bias, lif2.gain * graph.nodes["fc2"].bias, rtol=1e-12)
    assert not np.any(lif1.bias) and not np.any(lif2.bias)  # nothing of it on v
    assert [e.recurrent for e in lif1.inputs] == [True, False]  # lif1.w_rec -> lif1.lif, fc1 -> lif1.lif


def _self_inhibiting_if(T: int) -> nir.NIRGraph:
    return self_inhibiting_if({"time_steps": T})



@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_a_recurrent_edge_carries_exactly_the_previous_step_and_nothing_of_the_previous_image(mode):
    # by hand: t0 v = 1 > 0.5 spikes; t1 v = 0 + 1 - 1 (last step's spike through -1) = 0; t2 spikes; ...
    # T = 5 is odd: image 1's step 0 follows image 0's spike at step 4, which must not reach it
    stream = run(_self_inhibiting_if(5), np.ones((3, 1)), mode=mode, progress=False)
    np.testing.assert_array_equal(stream.spikes["n"][:, :, 0].T, [[1, 0, 1, 0, 1]] * 3)
    if mode == "fixed":
        integer = evaluate(lower(_self_inhibiting_if(5)), stream.quantization, np.ones((3, 1)), 5)
        np.testing.assert_array_equal(spikes_numpy(integer)["n"], stream.spikes["n"])


def _cycle_in_a_branch() -> nir.NIRGraph:
    """input -> a -> n (CubaLIF, recurrent through rec) -> b -> m (LIF) and input -> c -> m: the cycle sits in the
    deeper branch, so c's edge must wait one step; `m` fires on both. dt = 1, weights in quarters."""
    rng = np.random.default_rng(3)
    full = lambda shape, v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    q = lambda shape, mean: np.round(rng.normal(mean, 0.8, shape) * 4) / 4  # noqa: E731
    nodes = {
        "input": nir.Input(input_type=np.array([5])),
        "a": nir.Affine(weight=q((6, 5), 0.5), bias=full(6, 0.25)),
        "n": nir.CubaLIF(tau_syn=full(6, 2.0), tau_mem=full(6, 2.0), r=full(6, 1.0), v_leak=full(6, 0.0),
                         v_threshold=full(6, 0.5), v_reset=full(6, 0.0), w_in=full(6, 1.0)),
        "rec": nir.Affine(weight=q((6, 6), -0.3), bias=full(6, 0.5)),
        "b": nir.Linear(weight=q((4, 6), 0.4)),
        "c": nir.Linear(weight=q((4, 5), 0.2)),
        "m": nir.LIF(tau=full(4, 2.0), r=full(4, 1.0), v_leak=full(4, 0.0), v_threshold=full(4, 0.5), v_reset=full(4, 0.0)),
        "output": nir.Output(output_type=np.array([4])),
    }
    edges = [("input", "a"), ("a", "n"), ("n", "rec"), ("rec", "n"), ("n", "b"), ("b", "m"), ("input", "c"),
             ("c", "m"), ("m", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1.0, "time_steps": 10})


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_a_cycle_inside_a_branch_keeps_branches_aligned_and_images_apart(mode):
    graph = _cycle_in_a_branch()
    x = (np.random.default_rng(4).random((3, 10, 5)) < 0.5).astype(np.float64)
    net = lower(graph)
    align_branch_delays(net)
    assert {e.source: e.delay for e in net.nodes["m"].inputs} == {"b": 0, "c": 1}  # c waits for the deeper branch
    assert [(e.source, e.delay) for e in net.nodes["n"].inputs if e.recurrent] == [("rec", 0)]
    stream = run(graph, x, mode=mode, progress=False)
    assert stream.depth["m"] == 2
    if mode == "float":
        ref = run_graph(graph, x.swapaxes(0, 1))
        for layer in ("n", "m"):
            assert 10 < ref[layer].sum() < 0.9 * ref[layer].numel(), f"{layer}: the comparison would be vacuous"
            np.testing.assert_array_equal(stream.spikes[layer], ref[layer].numpy().astype(np.uint8), err_msg=layer)
        alone = run(graph, x[1:2], mode=mode, progress=False)
    else:
        integer = spikes_numpy(evaluate(net, stream.quantization, x, 10))
        for layer in ("n", "m"):
            np.testing.assert_array_equal(stream.spikes[layer], integer[layer], err_msg=layer)
        alone = run(graph, x[1:2], mode=mode, progress=False, quantization=stream.quantization)
    for layer in ("n", "m"):  # an image in the stream gives what it gives alone
        np.testing.assert_array_equal(stream.spikes[layer][:, 1:2], alone.spikes[layer], err_msg=layer)


def _loop_through_neurons() -> nir.NIRGraph:
    """input -> a -> n (IF) -> s -> m (IF) -> n (recurrent, spikes straight in) and m -> output: n, s and m would
    form a chain, which on a cycle would wait on itself."""
    one = np.ones(2)
    nodes = {"input": nir.Input(input_type=np.array([2])), "a": nir.Linear(weight=np.array([[1.0, 0.0], [0.5, 0.5]])),
             "n": nir.IF(r=one, v_threshold=0.75 * one, v_reset=0 * one),
             "s": nir.Linear(weight=np.array([[1.0, 0.0], [0.0, 1.0]])),
             "m": nir.IF(r=one, v_threshold=0.5 * one, v_reset=0 * one), "output": nir.Output(output_type=np.array([2]))}
    edges = [("input", "a"), ("a", "n"), ("n", "s"), ("s", "m"), ("m", "n"), ("m", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1.0, "time_steps": 6})


def test_nodes_on_a_cycle_are_not_fused_and_run_as_the_executor_says():
    graph = _loop_through_neurons()
    net = lower(graph)
    assert cycle_members(net) == {"n", "s", "m"} and fusable_chains(net) == []
    x = np.array([[0.5, 1.0], [1.0, 0.25]])
    lava = run(graph, x, mode="float", progress=False)
    ref = run_graph(graph, x)
    for layer in ("n", "m"):
        assert ref[layer].sum() > 3
        np.testing.assert_array_equal(lava.spikes[layer], ref[layer].numpy().astype(np.uint8), err_msg=layer)


def _with_cycle(extra_nodes: dict, edges: list) -> nir.NIRGraph:
    one = np.ones(2)
    nodes = {"input": nir.Input(input_type=np.array([2])), "a": nir.Linear(weight=np.eye(2)),
             "n": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "output": nir.Output(output_type=np.array([2])),
             **extra_nodes}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("a", "n"), ("n", "output"), *edges],
                        metadata={"dt": 1.0, "time_steps": 3}, type_check=False)


@pytest.mark.parametrize("graph, message", [
    (_with_cycle({"t": nir.Threshold(threshold=np.full(2, 0.5))}, [("n", "t"), ("t", "n")]),
     r"recurrent edge 't' -> 'n' closes a cycle without a synapse"),
    (_with_cycle({"r1": nir.Linear(weight=np.eye(2)), "r2": nir.Linear(weight=np.eye(2))},
                 [("n", "r1"), ("r1", "r2"), ("r2", "n")]),
     r"recurrent edge 'r2' -> 'n' closes a cycle 2 synapses deep.*1 steps late"),
    (_with_cycle({"r": nir.Linear(weight=np.eye(2))}, [("a", "r"), ("r", "a")]),
     r"edge 'r' -> 'a' closes a cycle into a synapse"),
])
def test_cycles_lava_cannot_delay_by_one_step_give_one_line(graph, message):
    with pytest.raises(UserError, match=message) as err:
        run(graph, np.ones((1, 2)), mode="float", progress=False)
    assert "\n" not in str(err.value)


def test_an_unset_reset_warns_where_the_writer_stores_zero_for_subtraction():
    graph = read_graph(PAPER / "braille_noDelay_noBias_subtract.nir")
    with pytest.warns(WriterResetWarning, match="reset='subtract'"):
        lower(graph, dt=DT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WriterResetWarning)
        assert lower(graph, dt=DT, reset="subtract").nodes["lif1.lif"].reset == "subtract"
        assert lower(graph, dt=DT, reset="zero").nodes["lif1.lif"].reset == "zero"


def test_reset_by_subtraction_by_hand_in_lava_float_and_fixed():
    """IF, threshold 1, input 0.75 a step. Subtraction: v = .75, 1.5 -> .5, 1.25 -> .25, 1 (not > 1), 1.75 -> .75;
    reset to zero: .75, 1.5 -> 0, .75, 1.5 -> 0, .75."""
    one = np.ones(1)
    nodes = {"input": nir.Input(input_type=np.array([1])), "a": nir.Linear(weight=0.75 * np.ones((1, 1))),
             "n": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "output": nir.Output(output_type=np.array([1]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("a", "n"), ("n", "output")],
                         metadata={"dt": 1.0, "time_steps": 5})
    expected = {"subtract": [0, 1, 1, 0, 1], "zero": [0, 1, 0, 1, 0]}
    for reset, spikes in expected.items():
        assert run_graph(graph, torch.ones(1, 1), reset=reset)["n"][:, 0, 0].tolist() == spikes
        for mode in ("float", "fixed"):
            lava = run(graph, np.ones((2, 1)), mode=mode, reset=reset, progress=False)
            np.testing.assert_array_equal(lava.spikes["n"][:, :, 0].T, [spikes] * 2, err_msg=f"{reset} {mode}")
