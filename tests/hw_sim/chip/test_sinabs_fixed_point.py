"""The NIR paper's Sinabs CNN (Conv2d, IF, SumPool2d, Flatten, Affine) in Loihi 2 fixed point: no layer is starved
by the scale of the pool before it, every layer fires at its float rate, spikes match float per layer (figures
printed), and Lava fixed equals the integer evaluator on every layer."""

from pathlib import Path

import nir
import numpy as np
import pytest

from export.executor import run_graph
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.chip.quantize import quantize
from hw_sim.simulator.lowering import lower

GRAPH = Path(__file__).resolve().parents[2] / "fixtures" / "nir_paper" / "cnn_sinabs.nir"
LAYERS = ("1", "3", "6", "10", "12")
T = 3


def random_events(batch: int) -> np.ndarray:
    return (np.random.default_rng(0).random((T, batch, 2, 34, 34)) < 0.3).astype(np.float64)


def moving_bars(batch: int) -> np.ndarray:
    """Vertical bars sweeping right (ON events at the edge, OFF behind it), one speed per image, 2% noise."""
    rng = np.random.default_rng(1)
    x = (rng.random((T, batch, 2, 34, 34)) < 0.02).astype(np.float64)
    for b in range(batch):
        start, speed, width = rng.integers(0, 20), 2 + b % 4, 2 + b % 3
        for t in range(T):
            edge = start + speed * t
            x[t, b, 0, :, edge:edge + width] = 1.0
            x[t, b, 1, :, max(edge - speed, 0):edge] = 1.0
    return x


@pytest.fixture(scope="module")
def graph():
    return nir.read(GRAPH)


@pytest.mark.parametrize("make_input", [random_events, moving_bars])
def test_fixed_point_keeps_every_layer_alive_and_close_to_float(graph, make_input):
    x = make_input(32)
    net = lower(graph, dt=1.0)
    quant = quantize(net, binary_input=True)
    assert quant.synapses["4"].out_scale == 1  # the SumPool2d no longer starves the conv after it
    assert quant.report["5"]["zeroed"] < 0.05
    ref = {n: v.numpy() for n, v in run_graph(graph, x, T=T, dt=1.0).items()}
    fixed = spikes_numpy(evaluate(net, quant, x.swapaxes(0, 1), T))
    match = {n: float((fixed[n] == ref[n]).mean()) for n in LAYERS}
    print(f"\n{make_input.__name__}: fixed vs float spike match " + ", ".join(f"{n} {m:.4f}" for n, m in match.items()))
    for n in LAYERS:
        assert ref[n].mean() > 0.005, f"layer {n} of the float network is silent: the input proves nothing"
        assert 0.6 < fixed[n].mean() / ref[n].mean() < 1.5, f"layer {n}: fixed rate {fixed[n].mean():.4f}"
        assert match[n] > 0.9, f"layer {n}: {match[n]:.4f}"
    assert match["1"] > 0.99  # the first layer only sees its own weight rounding


def test_lava_fixed_point_equals_the_integer_evaluator(graph):
    from hw_sim.simulator.simulation import run

    x = random_events(1)
    result = run(graph, x.swapaxes(0, 1), mode="fixed", T=T, dt=1.0, progress=False)
    integer = spikes_numpy(evaluate(lower(graph, dt=1.0), result.quantization, x.swapaxes(0, 1), T))
    for n in LAYERS:
        np.testing.assert_array_equal(result.spikes[n], integer[n], err_msg=n)
    assert all(result.spikes[n].sum() > 0 for n in LAYERS)
