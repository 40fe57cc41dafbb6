"""Hand-built NIR graphs in Lava: a residual of unequal depth meeting in a LIF (fan-in), SumPool2d + Threshold,
per-layer leaks and thresholds; Lava float spikes equal the reference executor's after the depth shift.
Unsupported node types fail before Lava starts, naming the node and its type."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from export.executor import run_graph
from hw_sim.simulator.simulation import run
from snnpar.errors import UserError

T = 4
DT = 1e-3


def _lif(shape, tau, v_th, v_leak=0.0):
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(1.0), v_leak=full(v_leak), v_threshold=full(v_th), v_reset=full(0.0))


def _conv(rng, c_in, c_out, k, hw, scale, bias=True):
    w = rng.normal(0.0, scale, (c_out, c_in, k, k))
    b = rng.uniform(0.0, 0.3, c_out) if bias else np.zeros(c_out)
    return nir.Conv2d(input_shape=hw, weight=w, stride=1, padding=k // 2, dilation=1, groups=1, bias=b)


def residual_graph() -> nir.NIRGraph:
    """input (2,6,6) -> conv -> lif1 -> SumPool2d(2) -> Threshold(0.5) -+-> conv_a -> lif_a -> conv_b -+-> lif_sum
                                                                     +-> conv_c (one synapse less) ---+
    lif_sum -> flatten -> affine -> output. conv_c's output must wait one step (a delay line) to meet conv_b."""
    rng = np.random.default_rng(3)
    nodes = {
        "input": nir.Input(input_type=np.array([2, 6, 6])),
        "conv": _conv(rng, 2, 4, 3, (6, 6), 0.6),
        "lif1": _lif((4, 6, 6), tau=4e-3, v_th=0.4),  # decay 0.25
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "spike_or": nir.Threshold(threshold=np.full((4, 3, 3), 0.5)),
        "conv_a": _conv(rng, 4, 4, 1, (3, 3), 0.8),
        "lif_a": _lif((4, 3, 3), tau=2e-3, v_th=0.3, v_leak=0.2),  # a leak towards 0.2: a bias in Lava
        "conv_b": _conv(rng, 4, 4, 3, (3, 3), 0.5, bias=False),
        "conv_c": _conv(rng, 4, 4, 1, (3, 3), 0.7),
        "lif_sum": _lif((4, 3, 3), tau=5e-3, v_th=0.35),  # decay 0.2
        "flatten": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0),
        "head": nir.Affine(weight=rng.normal(0, 0.3, (3, 36)), bias=np.array([0.1, -0.2, 0.3])),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "spike_or"),
             ("spike_or", "conv_a"), ("conv_a", "lif_a"), ("lif_a", "conv_b"), ("conv_b", "lif_sum"),
             ("spike_or", "conv_c"), ("conv_c", "lif_sum"), ("lif_sum", "flatten"), ("flatten", "head"),
             ("head", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT, "time_steps": T})


@pytest.fixture(scope="module")
def simulated():
    graph = residual_graph()
    images = np.random.default_rng(4).normal(0.5, 1.0, (2, 2, 6, 6))
    reference = {k: v.numpy() for k, v in run_graph(graph, images, T=T).items()}
    return graph, reference, run(graph, images, mode="float", progress=False)


def test_residual_of_unequal_depth_meets_in_a_lif_exactly(simulated):
    _, ref, result = simulated
    assert result.depth["conv_b"] == result.depth["conv_c"] + 1 == result.depth["lif_sum"]
    for name in ("lif1", "lif_a", "lif_sum"):
        rate = ref[name].mean()
        assert 0.0 < rate < 1.0, f"{name} fires at {rate}"
        np.testing.assert_array_equal(result.spikes[name], ref[name].astype(np.uint8), err_msg=name)
    np.testing.assert_allclose(result.logits, ref["output"].mean(axis=0), rtol=0, atol=1e-12)


def test_sumpool_and_threshold_give_the_spike_max_pool(simulated):
    _, ref, result = simulated
    pooled = result.spikes["spike_or"]
    assert 0.0 < pooled.mean() < 1.0
    np.testing.assert_array_equal(pooled, ref["spike_or"].astype(np.uint8))
    lif1 = result.spikes["lif1"].reshape(T, 2, 4, 3, 2, 3, 2)
    np.testing.assert_array_equal(pooled, lif1.max(axis=(4, 6)))  # OR over each 2x2 window


def test_unsupported_node_type_is_refused_naming_the_node_and_type():
    graph = residual_graph()
    graph.nodes["late"] = nir.Delay(delay=np.full((4, 3, 3), 2.0))
    graph.edges = [e for e in graph.edges if e != ("lif_sum", "flatten")] + [("lif_sum", "late"), ("late", "flatten")]
    with pytest.raises(ValueError, match=r"'late'.*Delay"):
        run(graph, np.zeros((1, 2, 6, 6)), progress=False)


def test_missing_graph_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no_such.nir.*does not exist"):
        run(tmp_path / "no_such.nir", np.zeros((1, 2, 6, 6)), progress=False)
