"""The SpikingJelly neuron backend implements the project's LIF equation and plugs into the student."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("spikingjelly", reason="SpikingJelly is the optional `bench` extra")

from snnpar.models.neurons import NEURON_BACKENDS, NEURON_MODELS, LIFConfig, lif_reference_step  # noqa: E402
from snnpar.models.neurons_spikingjelly import SpikingJellyLIF  # noqa: E402
from snnpar.models.recording import record_spikes  # noqa: E402
from snnpar.models.registry import create_model  # noqa: E402


def reference_spikes(x: torch.Tensor, config: LIFConfig) -> torch.Tensor:
    v, out = torch.zeros_like(x[0]), []
    for x_t in x:
        z, v = lif_reference_step(v, x_t, config.decay, config.v_th, config.v_leak, config.v_reset, config.firing_rule)
        out.append(z)
    return torch.stack(out)


@pytest.mark.parametrize("config", [LIFConfig(), LIFConfig(v_th=0.5)])
def test_spikingjelly_lif_fires_like_the_reference_equation(config):
    x = torch.randn(6, 3, 50, generator=torch.Generator().manual_seed(0)) * 2  # no exact v == v_th ties
    neuron = SpikingJellyLIF(config)
    expected = reference_spikes(x, config)
    assert expected.sum() > 0
    assert torch.equal(neuron(x), expected)
    assert torch.equal(neuron(x), expected)  # stateless: a second call starts from v = 0 again


def test_spikingjelly_fires_at_equality_where_norse_does_not():
    x = torch.tensor([[1.0], [1.5]])  # v = 0.5, then 0.5 + (1.5 - 0.5) / 2 = 1.0 == v_th
    assert SpikingJellyLIF(LIFConfig())(x).flatten().tolist() == [0.0, 1.0]
    assert reference_spikes(x, LIFConfig()).flatten().tolist() == [0.0, 1.0]  # the reference rule, v >= v_th
    assert reference_spikes(x, NEURON_MODELS["norse"]).flatten().tolist() == [0.0, 0.0]  # Norse's v > v_th


def test_spikingjelly_backend_builds_the_student_and_is_recorded():
    assert NEURON_BACKENDS["spikingjelly"] is SpikingJellyLIF
    model = create_model("snnpar-tiny", image_size=(32, 16), time_steps=2, neuron_backend="spikingjelly").eval()
    with torch.no_grad(), record_spikes(model) as spikes:
        logits = model(torch.randn(1, 3, 32, 16))
    assert logits.shape == (1, 26)
    assert "blocks.0.attn.attn_lif" in spikes and spikes["tokenizer.proj1_lif"].shape[:2] == (2, 1)
    assert all(isinstance(m, SpikingJellyLIF) for m in (model.tokenizer.proj1_lif, model.blocks[0].mlp.mlp2_lif))


def test_spikingjelly_backend_rejects_a_leak_it_cannot_express():
    with pytest.raises(ValueError, match="v_leak == v_reset"):
        SpikingJellyLIF(LIFConfig(v_leak=0.2))


def test_spikingjelly_backend_rejects_norses_firing_rule():
    with pytest.raises(ValueError, match="v >= v_th"):
        SpikingJellyLIF(NEURON_MODELS["norse"])
