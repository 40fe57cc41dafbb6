"""The NIR paper's Sinabs CNN (Conv2d, IF, SumPool2d, Flatten, Affine) runs in Lava like the reference executor."""

from pathlib import Path

import nir
import numpy as np

from export.executor import run_graph
from hw_sim.simulator.simulation import run


def test_cnn_graph_spikes_equal_reference_executor():
    graph = nir.read(Path(__file__).resolve().parents[2] / "fixtures" / "nir_paper" / "cnn_sinabs.nir")
    rng = np.random.default_rng(0)
    x = (rng.random((3, 1, 2, 34, 34)) < 0.3).astype(np.float64)  # [T, B, C, H, W] spike trains
    ref = run_graph(graph, x, T=3, dt=1.0)
    result = run(graph, x.swapaxes(0, 1), mode="float", T=3, dt=1.0, progress=False)  # Sinabs: discrete time
    for name in ("1", "3", "6", "10", "12"):
        np.testing.assert_array_equal(result.spikes[name], ref[name].numpy().astype(np.uint8), err_msg=name)
    assert result.spikes["1"].sum() > 0
