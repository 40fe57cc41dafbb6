"""Time in hw_sim as in the executor: dt from the graph or the caller, NIR's IF integrating dt*r*I in both, a layer
that never fires named by `snnpar simulate`; graphs hw_sim cannot run refused in one line naming the nodes."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
from PIL import Image
from recurrent_fixtures import self_inhibiting_if

from export import write_graph
from export.executor import run_graph
from hw_sim.simulator.lowering import lower
from hw_sim.simulator.simulation import run
from snnpar.cli import main
from snnpar.errors import UserError

PAPER = Path(__file__).resolve().parents[2] / "fixtures" / "nir_paper"


def _if_graph(dt: float | None) -> nir.NIRGraph:
    full = lambda v: np.full(3, v)  # noqa: E731
    nodes = {"input": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.diag([1.0, 2.0, 4.0])),
             "if": nir.IF(r=full(1.0), v_threshold=full(0.9), v_reset=full(0.0)), "output": nir.Output(output_type=np.array([3]))}
    meta = {"time_steps": 6} if dt is None else {"time_steps": 6, "dt": dt}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "if"), ("if", "output")], metadata=meta)


def test_if_integrates_dt_times_r_times_input_in_lava_as_in_the_executor():
    x = np.ones((1, 3))  # a constant current of 1, 2, 4
    ref = run_graph(_if_graph(0.5), x)["if"].numpy()
    # by hand, dt = 0.5: v grows by 0.5, 1, 2 per step; the first neuron crosses 0.9 every second step
    np.testing.assert_array_equal(ref[:, 0], [[0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 1, 1]])
    lava = run(_if_graph(0.5), x, mode="float", progress=False)
    np.testing.assert_array_equal(lava.spikes["if"], ref.astype(np.uint8))
    lava_dt1 = run(_if_graph(None), x, mode="float", dt=1.0, progress=False)  # dt given by the caller
    np.testing.assert_array_equal(lava_dt1.spikes["if"], run_graph(_if_graph(1.0), x)["if"].numpy().astype(np.uint8))
    assert not np.array_equal(lava_dt1.spikes["if"], lava.spikes["if"])


def test_lowering_takes_dt_from_the_graph_or_the_caller_never_a_guess():
    with pytest.raises(UserError, match=r"node 'if' \(IF\) needs the time step.*Sinabs writes discrete-time graphs"):
        lower(_if_graph(None))
    with pytest.raises(UserError, match=r"stores dt = 0.5.*dt = 1.0 was given"):
        lower(_if_graph(0.5), dt=1.0)
    assert lower(_if_graph(None), dt=0.25).nodes["if"].gain == 0.25


def _self_inhibiting_if() -> nir.NIRGraph:
    return self_inhibiting_if({"time_steps": 5})



@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_a_recurrent_graph_runs_with_the_one_step_semantics(mode):
    # by hand: t0 v = 1 > 0.5 spikes; t1 v = 0 + 1 - 1 (last step's spike through -1) = 0; t2 spikes; ...
    lava = run(_self_inhibiting_if(), np.ones((1, 1)), mode=mode, progress=False)
    assert lava.spikes["n"][:, 0, 0].tolist() == [1, 0, 1, 0, 1]
    net = lower(nir.read(PAPER / "braille_noDelay_noBias_subtract.nir"), dt=1e-4, reset="subtract")
    assert [(e.source, e.recurrent) for e in net.nodes["lif1.lif"].inputs] == [("lif1.w_rec", True), ("fc1", False)]


@pytest.mark.parametrize("node, match", [
    (nir.NIRGraph.from_list(nir.Linear(weight=np.eye(3))), r"node 'fc' is a nested NIRGraph"),
    (nir.Delay(delay=np.ones(3)), r"node 'fc' is a NIR Delay"),
    (nir.Scale(scale=np.ones(3)), r"node 'fc' has type Scale, which hw_sim \(Lava\) does not run"),
])
def test_nodes_hw_sim_cannot_run_give_one_line(node, match):
    graph = _if_graph(1.0)
    graph = nir.NIRGraph(nodes={**graph.nodes, "fc": node}, edges=graph.edges, metadata=graph.metadata, type_check=False)
    with pytest.raises(UserError, match=match):
        lower(graph)


def test_an_edge_to_a_missing_node_gives_one_line():
    graph = _if_graph(1.0)
    graph = nir.NIRGraph(nodes=graph.nodes, edges=[*graph.edges, ("if", "ghost")], metadata=graph.metadata, type_check=False)
    with pytest.raises(UserError, match=r"edge \('if' -> 'ghost'\) has target 'ghost', which is not a node"):
        lower(graph)


def test_simulate_names_a_layer_that_never_fires(tmp_path, capsys):
    shape = (3, 4, 4)
    full = lambda v: np.full(shape, v)  # noqa: E731
    nodes = {"input": nir.Input(input_type=np.array(shape)), "scale": nir.Conv2d(
                 input_shape=(4, 4), weight=np.eye(3)[:, :, None, None], stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(3)),
             "lif": nir.LIF(tau=full(2e-3), r=full(1.0), v_leak=full(0.0), v_threshold=full(1e6), v_reset=full(0.0)),
             "output": nir.Output(output_type=np.array(shape))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "scale"), ("scale", "lif"), ("lif", "output")],
                         metadata={"time_steps": 3})
    write_graph(graph, tmp_path / "g.nir")
    Image.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["simulate", str(tmp_path / "g.nir"), "--images", str(tmp_path / "a.png"), "--dt", "1e-3"]) == 0
    out = capsys.readouterr().out
    assert "NO SPIKES" in out and "warning: 1 spiking layers produced no spike at all in 3 steps: lif" in out


@pytest.mark.parametrize("reset, expected", [("subtract", [0, 1, 1, 0, 1]), ("zero", [0, 1, 0, 1, 0])])
def test_simulate_resets_by_subtraction_when_asked(tmp_path, reset, expected):
    # by hand: IF (threshold 1) fed 0.75 a step; subtraction v = .75, 1.5 -> .5, 1.25 -> .25, 1, 1.75 -> .75;
    # reset to zero: .75, 1.5 -> 0, .75, 1.5 -> 0, .75
    shape = (3, 4, 4)
    full = lambda v: np.full(shape, v)  # noqa: E731
    nodes = {"input": nir.Input(input_type=np.array(shape)), "conv": nir.Conv2d(
                 input_shape=(4, 4), weight=0.75 * np.eye(3)[:, :, None, None], stride=1, padding=0, dilation=1, groups=1,
                 bias=np.zeros(3)),
             "if": nir.IF(r=full(1.0), v_threshold=full(1.0), v_reset=full(0.0)), "output": nir.Output(output_type=np.array(shape))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "if"), ("if", "output")],
                         metadata={"time_steps": 5, "dt": 1.0, "normalization": {"mean": [0, 0, 0], "std": [1, 1, 1]}})
    write_graph(graph, tmp_path / "g.nir")
    Image.fromarray(np.full((4, 4, 3), 255, dtype=np.uint8)).save(tmp_path / "a.png")  # the input is 1 everywhere
    args = ["simulate", str(tmp_path / "g.nir"), "--images", str(tmp_path / "a.png"), "--reset", reset, "--mode"]
    for mode in ("float", "fixed"):
        assert main([*args, mode, "--out", str(tmp_path / mode)]) == 0
        spikes = np.load(tmp_path / mode / "spikes.npz")["if"]  # [T, B, C, H, W]
        assert spikes[:, 0].reshape(5, -1).T.tolist() == [expected] * 48, mode
