"""The executor runs NIR files nobody here wrote (the NIR paper's), with NIR semantics."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export import read_graph
from export.attention import SpikingSelfAttention
from export.executor import run_graph

PAPER = Path(__file__).resolve().parents[1] / "fixtures" / "nir_paper"  # the NIR paper's public files


def test_single_lif_reproduces_norse_spike_times_from_the_paper():
    trace = np.loadtxt(PAPER / "lif_norse.csv", delimiter=",")  # input spike, voltage, output spike
    outputs = run_graph(read_graph(PAPER / "lif_norse.nir"), torch.tensor(trace[:, 0]).reshape(-1, 1, 1), dt=1e-4)
    spikes = outputs["1"][:, 0, 0].numpy()
    assert trace[:, 2].sum() >= 3
    np.testing.assert_array_equal(spikes, trace[:, 2])


def test_sinabs_cnn_runs_and_equals_a_hand_chained_torch_model():
    graph = nir.read(PAPER / "cnn_sinabs.nir")
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 2, 2, 34, 34, generator=gen) < 0.3).double()
    outputs = run_graph(graph, x, dt=1.0)  # Sinabs writes discrete-time IF: v <- v + r*I
    assert outputs["output"].shape == (6, 2, 10)

    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    n = graph.nodes
    layers = [
        lambda z: F.conv2d(z, t(n["0"].weight), t(n["0"].bias), stride=2, padding=1), "1",
        lambda z: F.conv2d(z, t(n["2"].weight), t(n["2"].bias), padding=1), "3",
        lambda z: F.avg_pool2d(z, 2) * 4,
        lambda z: F.conv2d(z, t(n["5"].weight), t(n["5"].bias), padding=1), "6",
        lambda z: F.avg_pool2d(z, 2) * 4,
        lambda z: z.flatten(1) @ t(n["9"].weight).T + t(n["9"].bias), "10",
        lambda z: z @ t(n["11"].weight).T + t(n["11"].bias), "12",
    ]
    v: dict[str, torch.Tensor] = {}
    for step in range(6):
        z = x[step]
        for layer in layers:
            if isinstance(layer, str):  # IF neuron, r = 1, reset to v_reset
                v[layer] = v.get(layer, 0) + t(n[layer].r) * z
                z = (v[layer] > t(n[layer].v_threshold)).double()
                v[layer] = torch.where(z > 0, t(n[layer].v_reset), v[layer])
            else:
                z = layer(z)
        assert torch.equal(outputs["12"][step], z), f"step {step}"
    assert outputs["3"].sum() > 0


def _ssa_graph(edges_from=("tq", "tk", "tv")) -> nir.NIRGraph:
    thresholds = {"tq": 0.3, "tk": 0.5, "tv": 0.7}  # three different binary operands from one input
    nodes = {"input": nir.Input(input_type=np.array([4, 3])),
             **{n: nir.Threshold(threshold=np.full((4, 3), th)) for n, th in thresholds.items()},
             "ssa": SpikingSelfAttention(num_heads=2, scale=0.25, shape=np.array([4, 3]), query="tq", key="tk", value="tv"),
             "output": nir.Output(output_type=np.array([4, 3]))}
    edges = [("input", n) for n in thresholds] + [(n, "ssa") for n in edges_from] + [("ssa", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_ssa_node_follows_its_equation_per_head_and_step():
    x = torch.rand(3, 2, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # [T, B, C, N]
    out = run_graph(_ssa_graph(), x)["ssa"]
    q, k, v = ((x > th).double().numpy() for th in (0.3, 0.5, 0.7))
    expected = np.zeros(x.shape)
    for t, b, h, j, n in np.ndindex(3, 2, 2, 2, 3):  # y[h*d+j, n] = s * sum_i q[h*d+i, n] sum_m k[h*d+i, m] v[h*d+j, m]
        expected[t, b, 2 * h + j, n] = 0.25 * sum(q[t, b, 2 * h + i, n] * k[t, b, 2 * h + i, m] * v[t, b, 2 * h + j, m]
                                                  for i in range(2) for m in range(3))
    assert np.abs(expected).sum() > 0
    np.testing.assert_array_equal(out.numpy(), expected)


def test_ssa_node_without_its_operand_edges_is_rejected():
    with pytest.raises(ValueError, match="tv"):
        run_graph(_ssa_graph(edges_from=("tq", "tk")), torch.rand(1, 4, 3), T=1)
