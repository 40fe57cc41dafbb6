"""The data-calibrated scale rule, by hand on a small graph: two convolutions into one IF group, one with weights
about 50x smaller than the other. The worst-case rule sizes the group for every input spiking at once, and the small
conv's weights all round to 0 (refused); calibrated on a few sparse inputs, the group gets the scale its real input
allows and both synapses deploy. Lava fixed point equals the integer evaluator on it, also where inputs denser than
the calibration wrap the 24-bit current u (Lava's LIF wraps u and clips v; the evaluator does the same)."""

import nir
import numpy as np
import pytest

from export.executor import run_graph
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.chip.quantize import calibrate, quantize
from hw_sim.simulator.lowering import lower
from snnpar.errors import UserError
from snnpar.loihi2 import formats as F

C, H, T = 64, 8, 4


def two_convs_into_one_group() -> nir.NIRGraph:
    rng = np.random.default_rng(0)

    def conv(mean: float, sigma: float) -> nir.Conv2d:
        return nir.Conv2d(input_shape=(H, H), weight=rng.normal(mean, sigma, (4, C, 5, 5)), stride=1, padding=2,
                          dilation=1, groups=1, bias=np.zeros(4))

    full = lambda v: np.full((4, H, H), v)  # noqa: E731
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([C, H, H])), "big": conv(0.2, 1.0), "small": conv(0.0, 0.02),
               "if": nir.IF(r=full(1.0), v_threshold=full(4.0), v_reset=full(0.0)),
               "output": nir.Output(output_type=np.array([4, H, H]))},
        edges=[("input", "big"), ("input", "small"), ("big", "if"), ("small", "if"), ("if", "output")],
        metadata={"dt": 1.0})


def spikes(rate: float, batch: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, batch, C, H, H)) < rate).astype(np.float64)


@pytest.fixture(scope="module")
def graph():
    return two_convs_into_one_group()


@pytest.fixture(scope="module")
def calibrated(graph):
    net = lower(graph)
    calibration = calibrate(graph, net, spikes(0.02, 3, seed=1), T=T)
    return net, quantize(net, binary_input=True, calibration=calibration), calibration


def test_the_worst_case_rule_cuts_the_small_conv(graph):
    with pytest.raises(UserError, match=r"synapse 'small': 100% of its non-zero weights quantise to 0.*calibrate"):
        quantize(lower(graph), binary_input=True)


def test_calibrated_scales_deploy_both_convs_and_follow_float(graph, calibrated):
    net, quant, calibration = calibrated
    worst_case_scale = 8  # the refused rule's scale, in its message
    assert quant.rule == "calibrated" and quant.neurons["if"].scale > 16 * worst_case_scale
    assert quant.report["small"]["zeroed"] < 0.1
    assert calibration.peak["if"] * quant.neurons["if"].scale < F.HARD_MAX_INPUT  # calibration inputs never wrap
    x = spikes(0.02, 8, seed=2)
    ref = run_graph(graph, x, T=T)["if"].numpy()
    fixed = spikes_numpy(evaluate(net, quant, x.swapaxes(0, 1), T))["if"]
    assert ref.mean() > 0.01
    assert (fixed == ref).mean() > 0.99


def test_lava_fixed_point_equals_the_evaluator_with_calibrated_scales_also_where_u_wraps(graph, calibrated):
    from hw_sim.simulator.simulation import run

    net, quant, _ = calibrated
    x = np.concatenate([spikes(0.02, 1, seed=3), np.ones((T, 1, C, H, H))], axis=1)  # sparse, then every input on
    run_ = evaluate(net, quant, x.swapaxes(0, 1), T, record=["if", "big", "small"])
    a = run_.outputs["big"] + run_.outputs["small"]  # the group's integer input
    assert float(a[:, 1].abs().max()) > F.HARD_MAX_INPUT  # the dense image wraps u ...
    assert float(a[:, 0].abs().max()) < F.HARD_MAX_INPUT  # ... the sparse one does not
    lava = run(graph, x.swapaxes(0, 1), mode="fixed", T=T, quantization=quant, progress=False)
    np.testing.assert_array_equal(lava.spikes["if"], spikes_numpy(run_)["if"])
    assert lava.spikes["if"][:, 0].sum() > 0


def test_a_student_deploys_with_calibrated_scales_at_least_as_fine_as_the_worst_case():
    """A measured input never exceeds its worst-case bound, so no group gets a coarser scale; QAT can start there."""
    import torch
    from spiking_fixtures import IMAGE_SIZE, firing_student

    from hw_sim.chip.deployment import deployed_network, student_formats
    from snnpar.data import NORMALIZATION

    model = firing_student("ssa", num_attributes=5)
    images = torch.randn(2, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    _, worst = deployed_network(model, NORMALIZATION)
    net, calibrated = deployed_network(model, NORMALIZATION, calibration_images=images)
    assert worst.rule == "worst-case" and calibrated.rule == "calibrated"
    finer = [n for n in calibrated.neurons if calibrated.neurons[n].scale > worst.neurons[n].scale]
    assert all(calibrated.neurons[n].scale >= worst.neurons[n].scale for n in calibrated.neurons) and finer
    assert student_formats(model, NORMALIZATION, images)["scales"] == calibrated.scales()
