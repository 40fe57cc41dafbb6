"""The firing rule in node metadata (``firing_rule``) is honoured by the executor, Lava float and Lava fixed point.

One LIF layer (decay 0.5, v_th 0.5) behind an identity synapse, on inputs whose voltages hit the threshold
exactly. Expected spikes are worked out by hand from v <- v + (x - v) / 2: x = 1 gives v = 0.5 at step 0,
a tie: ">=" fires and resets, so every step is a tie and fires; ">" does not, v = 0.75 fires at step 1,
and so on every other step. x = 0.75 gives v = 0.375, 0.5625 (fires), 0.375, 0.5625 (fires); x = 0.875 fires at
steps 1 and 3; x = 0.5, 0.25, -0.5 never reach 0.5.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from export.executor import run_graph
from hw_sim.simulator.simulation import run
from snnpar.loihi2.formats import integer_threshold

T = 4
X = np.array([[1.0, 0.5, 0.75, 0.25, -0.5, 0.875]])
EXPECTED = {  # [T, neuron] for image 0
    ">=": [[1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1], [1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1]],
    ">": [[0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1]],
}


def one_layer(rule: str | None) -> nir.NIRGraph:
    n = X.shape[1]
    full = lambda v: np.full((n,), v)  # noqa: E731
    metadata = {"firing_rule": rule} if rule else {}
    lif = nir.LIF(tau=full(2e-3), r=full(1.0), v_leak=full(0.0), v_threshold=full(0.5), v_reset=full(0.0),
                  metadata=metadata)
    nodes = {"input": nir.Input(input_type=np.array([n])), "syn": nir.Affine(weight=np.eye(n), bias=np.zeros(n)),
             "lif": lif, "head": nir.Affine(weight=np.ones((1, n)), bias=np.zeros(1)),
             "output": nir.Output(output_type=np.array([1]))}
    edges = [("input", "syn"), ("syn", "lif"), ("lif", "head"), ("head", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3, "time_steps": T})


@pytest.mark.parametrize("rule", [">=", ">", None], ids=["ge", "gt", "nir-default"])
def test_executor_fires_by_the_nodes_rule(rule):
    spikes = run_graph(one_layer(rule), X, T=T)["lif"].numpy()[:, 0]
    assert spikes.astype(int).tolist() == EXPECTED[rule or ">"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_lava_fires_on_ties_exactly_where_the_rule_says(mode):
    for rule in (">=", ">"):
        result = run(one_layer(rule), X, mode=mode, progress=False)
        assert result.spikes["lif"][:, 0].astype(int).tolist() == EXPECTED[rule], (mode, rule)


def test_integer_threshold_puts_ties_on_the_right_side_of_the_chips_strict_comparison():
    # threshold 0.5 at S = 64 input units per unit: 32 units, v = 32 << 6 = 2048 on the tie
    assert integer_threshold(32.0, 1, firing_rule=">") == 32 and not 2048 > 32 << 6
    assert integer_threshold(32.0, 1, firing_rule=">=") == 31 and 2048 > 31 << 6 and not 2047 - 63 > 31 << 6
    assert integer_threshold(32.5, 1, firing_rule=">=") == 32 and 2112 > 32 << 6 and not 2048 > 32 << 6  # 33 units fire, 32 not
    assert integer_threshold(32.5, 1, firing_rule=">") == 32


def test_a_bad_rule_in_metadata_is_refused_naming_the_node():
    graph = one_layer("=>")
    with pytest.raises(ValueError, match="firing_rule"):
        run_graph(graph, X, T=T)
