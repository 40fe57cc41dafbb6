"""The student's neurons against SpikingJelly's, the reference's own neuron, used as the oracle.

The oracle is `spikingjelly.clock_driven.neuron.MultiStepLIFNode(tau=2.0, detach_reset=True,
backend='torch')`, constructed exactly as Spikingformer and SNN-PAR construct it (surrogate Sigmoid,
alpha 4 by default). The inputs contain exact ties: neuron 0 reaches v == v_th, where ">=" and ">" differ.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from snnpar.models.neurons import NEURON_MODELS, LIFConfig, MultiStepLIF, lif_reference_step

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from spikingjelly.clock_driven import surrogate
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode

T = 4


def currents(seed: int = 0) -> torch.Tensor:
    """[T, 3, 40] random currents; neuron 0 sees v = 0.5, 1.0, ... (a tie at v_th 0.5 and at v_th 1)."""
    x = torch.randn(T, 3, 40, generator=torch.Generator().manual_seed(seed)) * 2
    x.view(T, -1)[:, 0] = torch.tensor([1.0, 1.5, -1.0, 0.0])
    x.view(T, -1)[:, 1] = torch.tensor([2.0, 0.0, 2.0, 1.0])  # v = 1.0 at t = 0: a tie at v_th 1 first step
    return x


def run(neuron, x, upstream):
    x = x.clone().requires_grad_(True)
    spikes = neuron(x)
    spikes.backward(upstream)
    return spikes.detach(), x.grad


def oracle(v_th: float, **kwargs) -> MultiStepLIFNode:
    return MultiStepLIFNode(tau=2.0, v_threshold=v_th, detach_reset=kwargs.pop("detach_reset", True),
                            backend="torch", **kwargs)


@pytest.mark.parametrize("v_th", [1.0, 0.5])
def test_reference_neuron_fires_and_differentiates_like_spikingjelly_multistep_lif(v_th):
    x, upstream = currents(), torch.randn(T, 3, 40, generator=torch.Generator().manual_seed(1))
    ours = MultiStepLIF(LIFConfig(v_th=v_th))  # the default LIFConfig is the reference neuron
    expected_spikes, expected_grad = run(oracle(v_th), x, upstream)
    spikes, grad = run(ours, x, upstream)
    tie = {1.0: (1, 0), 0.5: (0, 0)}[v_th]  # (step, neuron) where v == v_th exactly
    assert expected_spikes.view(T, -1)[tie] == 1  # SpikingJelly fires on the tie ...
    assert torch.equal(spikes, expected_spikes)  # ... and so does the student, and every other spike agrees
    assert torch.count_nonzero(expected_grad) > 0
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-5)
    norse = MultiStepLIF(replace(NEURON_MODELS["norse"], v_th=v_th))
    assert norse(x).view(T, -1)[tie] == 0  # Norse's own rule (v > v_th) does not: the tie is a real one


@pytest.mark.parametrize("alpha", [2.0, 4.0, 9.0])
def test_surrogate_alpha_is_the_sigmoid_sharpness_spikingjelly_uses(alpha):
    x, upstream = currents(2), torch.randn(T, 3, 40, generator=torch.Generator().manual_seed(3))
    _, expected = run(oracle(1.0, surrogate_function=surrogate.Sigmoid(alpha=alpha)), x, upstream)
    _, grad = run(MultiStepLIF(LIFConfig(surrogate_alpha=alpha)), x, upstream)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-5)
    if alpha != 4.0:  # alpha really changes the gradient
        _, default = run(MultiStepLIF(LIFConfig()), x, upstream)
        assert not torch.allclose(grad, default, atol=1e-4)


def test_attached_reset_matches_spikingjelly_without_detach_and_differs_from_detached():
    x, upstream = currents(4), torch.randn(T, 3, 40, generator=torch.Generator().manual_seed(5))
    _, expected = run(oracle(1.0, detach_reset=False), x, upstream)
    _, grad = run(MultiStepLIF(LIFConfig(detach_reset=False)), x, upstream)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-5)
    _, detached = run(MultiStepLIF(LIFConfig()), x, upstream)
    assert not torch.allclose(grad, detached, atol=1e-4)


def test_norse_model_is_norses_own_lif_box_step_and_fires_strictly_above_threshold():
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState, lif_box_feed_forward_step

    config = NEURON_MODELS["norse"]
    x, upstream = currents(6), torch.randn(T, 3, 40, generator=torch.Generator().manual_seed(7))
    xs = x.clone().requires_grad_(True)
    state, expected = LIFBoxFeedForwardState(v=torch.zeros_like(x[0])), []
    for x_t in xs:
        z, state = lif_box_feed_forward_step(x_t, state, config.norse_parameters(), config.dt)
        expected.append(z)
    torch.stack(expected).backward(upstream)
    spikes, grad = run(MultiStepLIF(config), x, upstream)
    assert torch.equal(spikes, torch.stack(expected).detach()) and torch.equal(grad, xs.grad)
    assert spikes.view(T, -1)[1, 0] == 0  # the tie v == 1.0 does not fire under ">"


@pytest.mark.parametrize("rule", [">=", ">"])
def test_every_rule_and_surrogate_fires_as_the_plain_equation(rule):
    x = currents(8)
    for surrogate_name in ("sigmoid", "super", "triangle"):
        config = LIFConfig(firing_rule=rule, surrogate=surrogate_name)
        v, expected = torch.zeros_like(x[0]), []
        for x_t in x:
            z, v = lif_reference_step(v, x_t, config.decay, config.v_th, firing_rule=rule)
            expected.append(z)
        assert torch.equal(MultiStepLIF(config)(x), torch.stack(expected)), surrogate_name


def test_unknown_rule_or_surrogate_is_refused_by_name():
    with pytest.raises(ValueError, match="firing_rule"):
        LIFConfig(firing_rule=">>")
    with pytest.raises(ValueError, match="surrogate"):
        LIFConfig(surrogate="relu")
