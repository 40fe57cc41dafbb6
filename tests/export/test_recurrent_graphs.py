"""Recurrent NIR graphs in the executor: the one-step semantics of a recurrent edge, the NIR paper's Braille
graphs (snnTorch-written CubaLIF RNNs, one with biases) spike for spike against Norse's own `from_nir`, the
reset mode, and one clear line for each graph no runner here can run."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from recurrent_fixtures import self_inhibiting_if

from export import read_graph
from export.conventions import WriterResetWarning
from export.executor import SilentLayerWarning, run_graph
from export.interop import norse_outputs, random_spikes
from snnpar.errors import UserError

PAPER = Path(__file__).resolve().parents[1] / "fixtures" / "nir_paper"
BRAILLE = {"braille_noDelay_bias_zero": "zero", "braille_noDelay_noBias_subtract": "subtract"}




def test_a_recurrent_edge_carries_the_previous_step():
    out = run_graph(self_inhibiting_if(), torch.ones(5, 1, 1))
    # by hand: t0 v = 1 > 0.5 spikes; t1 v = 0 + 1 - 1 (last step's spike through -1) = 0; t2 v = 1 spikes; ...
    assert out["n"][:, 0, 0].tolist() == [1, 0, 1, 0, 1]
    assert out["rec"][:, 0, 0].tolist() == [-1, 0, -1, 0, -1]  # rec itself runs in the same step as n
    assert out.recurrent_edges == (("rec", "n"),)


@pytest.mark.parametrize("name", list(BRAILLE))
def test_braille_graphs_equal_norse_from_nir_on_every_layer(name):
    graph = read_graph(PAPER / f"{name}.nir")
    assert graph.metadata == {}  # snnTorch stores no dt: it is the caller's (snnTorch's convention: 1e-4)
    x = random_spikes(graph, steps=120, batch=3, rate=0.3, seed=1)
    ours = run_graph(graph, x, dt=1e-4, reset=BRAILLE[name])
    theirs = norse_outputs(graph, x, dt=1e-4, reset=BRAILLE[name])
    for layer in ("lif1.lif", "lif2"):
        count, rate = ours[layer].sum().item(), ours[layer].mean().item()
        assert count >= 30 and rate < 0.9, f"{layer}: {count} spikes, rate {rate}: the comparison would be vacuous"
        assert torch.equal(ours[layer], theirs[layer]), f"{name} {layer}: executor != Norse"
    # the recurrent edge matters: without it the hidden layer fires differently
    cut = nir.NIRGraph(nodes=graph.nodes, edges=[e for e in graph.edges if e != ("lif1.w_rec", "lif1.lif")], type_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WriterResetWarning)
        assert not torch.equal(run_graph(cut, x, dt=1e-4, reset=BRAILLE[name])["lif1.lif"], ours["lif1.lif"])


def test_subtraction_differs_from_reset_to_zero_and_equals_norse_reset_subtract():
    graph = read_graph(PAPER / "braille_noDelay_noBias_subtract.nir")
    x = random_spikes(graph, steps=80, batch=2, rate=0.4, seed=2)
    zero, subtract = (run_graph(graph, x, dt=1e-4, reset=r)["lif1.lif"] for r in ("zero", "subtract"))
    assert not torch.equal(zero, subtract)
    assert torch.equal(zero, norse_outputs(graph, x, dt=1e-4, reset="zero")["lif1.lif"])


@pytest.mark.filterwarnings("ignore::export.executor.SilentLayerWarning")
def test_an_unset_reset_warns_where_the_writer_stores_zero_for_subtraction():
    graph = read_graph(PAPER / "braille_noDelay_noBias_subtract.nir")
    x = random_spikes(graph, steps=5, batch=1, rate=0.3, seed=0)
    with pytest.warns(WriterResetWarning, match="reset='subtract'"):
        run_graph(graph, x, dt=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WriterResetWarning)
        run_graph(graph, x, dt=1e-4, reset="zero")  # explicit: no warning
        run_graph(self_inhibiting_if(), torch.ones(2, 1, 1))  # not snnTorch's fingerprint: no warning


def test_dt_comes_from_the_metadata_or_the_caller_never_a_guess():
    graph = read_graph(PAPER / "braille_noDelay_bias_zero.nir")
    x = random_spikes(graph, steps=3, batch=1, rate=0.3, seed=0)
    with pytest.raises(UserError, match=r"no 'dt'.*snnTorch's export convention: pass dt=0.0001"):
        run_graph(graph, x, reset="zero")
    with pytest.raises(UserError, match=r"stores dt = 1.0.*dt = 0.5"):
        run_graph(self_inhibiting_if(), torch.ones(2, 1, 1), dt=0.5)
    with pytest.raises(UserError, match=r"Sinabs writes discrete-time graphs \(dt = 1\)"):
        run_graph(nir.read(PAPER / "cnn_sinabs.nir"), torch.zeros(2, 1, 2, 34, 34))


def test_a_layer_that_never_fires_is_reported():
    graph = nir.read(PAPER / "cnn_sinabs.nir")
    x = (torch.rand(4, 1, 2, 34, 34, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    with pytest.warns(SilentLayerWarning, match=r"no spike in 4 steps \(dt = 0.0001\).*dt = 1"):
        silent = run_graph(graph, x, dt=1e-4)  # IF integrates dt*I: at dt = 1e-4 nothing reaches the threshold
    assert silent.silent_layers == ("1", "3", "6", "10", "12")
    assert run_graph(graph, x, dt=1.0).silent_layers == ()


def _graph_with(node: nir.NIRNode, edges=None) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type=np.array([2])), "x": node, "output": nir.Output(output_type=np.array([2]))}
    return nir.NIRGraph(nodes=nodes, edges=edges or [("input", "x"), ("x", "output")], type_check=False)


@pytest.mark.parametrize("graph, message", [
    (_graph_with(nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2)))), r"node 'x' is a nested NIRGraph.*inline"),
    (_graph_with(nir.Delay(delay=np.ones(2))), r"node 'x' is a NIR Delay"),
    (_graph_with(nir.Linear(weight=np.eye(2)), [("input", "x"), ("x", "y"), ("x", "output")]),
     r"edge \('x' -> 'y'\) has target 'y', which is not a node"),
    (_graph_with(nir.Linear(weight=np.eye(2)), [("input", "output"), ("x", "x")]),
     r"nodes \['x'\] form a cycle that no path from the Input node 'input' reaches"),
])
def test_graphs_the_executor_cannot_run_give_one_line(graph, message):
    with pytest.raises(UserError, match=message) as err:
        run_graph(graph, torch.ones(1, 1, 2), dt=1.0)
    assert "\n" not in str(err.value)


def test_an_unknown_node_type_gives_one_line():
    @dataclass(eq=False)
    class Gelu(nir.NIRNode):
        size: int

        def __post_init__(self):
            self.input_type, self.output_type = {"input": np.array([self.size])}, {"output": np.array([self.size])}

    node = Gelu(2)
    with pytest.raises(UserError, match=r"node 'x' has type Gelu, which the NIR executor does not run; it runs Affine"):
        run_graph(_graph_with(node), torch.ones(1, 1, 2), dt=1.0)
