"""The Spikformer family's energy convention on the torch model, checked against shapes and recorded spikes."""

import pytest
import torch
import torch.nn.functional as F
from spiking_fixtures import active_tiny_student

import snnpar.models.presets  # noqa: F401  (registers the presets)
from hw_sim.analysis.energy_profiles import PROFILES, get_profile
from hw_sim.analysis.spikformer_energy import SpikformerAccounting, count_spikformer_operations
from snnpar.models.recording import record_spikes


@pytest.fixture(scope="module")
def tiny():
    model = active_tiny_student()
    images = torch.randn(2, 3, 128, 64)
    with record_spikes(model) as spikes:
        model(images)
    return model, images, dict(spikes)


def by_name(count):
    return {layer.name: layer for layer in count.layers}


def test_the_encoder_counted_once_is_a_t_th_of_the_papers_count(tiny):
    model, images, _ = tiny
    per_step = count_spikformer_operations(model, images)
    once = count_spikformer_operations(model, images, SpikformerAccounting(encoder_per_step=False))
    assert once.encoder_macs == per_step.encoder_macs / 4 == 4 * 3 * 9 * 128 * 64  # outputs x taps, one step
    assert once.acs == per_step.acs


def test_published_operation_counts_give_the_published_energy():
    # Spikingformer-8-768: 0.521 G MACs and 12.51 G ACs -> 13.66 mJ on 45 nm fp32.
    assert get_profile("45nm-fp32").energy_joules(acs=12.51e9, macs=0.521e9) * 1e3 == pytest.approx(13.66, abs=0.005)


def test_binary_input_layers_count_macs_times_the_recorded_firing_rate(tiny):
    model, images, spikes = tiny
    layers = by_name(count_spikformer_operations(model, images))
    t, n, d = 4, 32, 32
    mlp1_rate = spikes["blocks.0.mlp.mlp1_lif"].mean().item()
    assert layers["blocks.0.mlp.mlp1.0"].acs == pytest.approx(t * n * d * 4 * d * mlp1_rate, rel=1e-6)
    assert layers["blocks.0.mlp.mlp1.0"].macs == 0
    # the first tokenizer conv sees max-pooled spikes: its rate is the pooled map's, computed independently here
    pooled = F.max_pool2d(spikes["tokenizer.proj1_lif"].flatten(0, 1), 3, 2, 1)
    dense = t * 64 * 32 * 8 * 4 * 9  # outputs (T x 64x32 x 8 channels) x (4 inputs x 3x3 taps), per image
    assert layers["tokenizer.proj1_conv"].acs == pytest.approx(dense * pooled.mean().item(), rel=1e-6)
    assert layers["head"].macs == 32 * 26 and layers["head"].acs == 0


def test_ssa_adds_the_spikformer_attention_term(tiny):
    model, images, spikes = tiny
    fr = {r: spikes[f"blocks.0.attn.{r}_lif"].mean().item() for r in "qkv"}
    t, h, n, dh = 4, 2, 32, 16
    expected = t * h * n * dh * dh * (min(fr["k"], fr["v"]) + fr["q"])
    layers = by_name(count_spikformer_operations(model, images))
    assert layers["blocks.0.attn.attention"].acs == pytest.approx(expected, rel=1e-6)
    dense = by_name(count_spikformer_operations(model, images, SpikformerAccounting(attention="dense")))
    assert dense["blocks.0.attn.attention"].macs == 2 * t * h * n * n * dh


def test_accounting_rules_change_the_figure_and_are_written_beside_it(tiny):
    model, images, _ = tiny
    strict = count_spikformer_operations(model, images)
    lax = count_spikformer_operations(model, images, SpikformerAccounting(strict_binary=False))
    assert lax.macs == strict.encoder_macs  # the head's real input is now charged as ACs x its nonzero rate
    with_bn = count_spikformer_operations(model, images, SpikformerAccounting(count_batchnorm=True))
    tokenizer_bn = 4 * 128 * 64 + 8 * 64 * 32 + 16 * 32 * 16 + 32 * 16 * 8 + 32 * 8 * 4  # after each max-pool
    bn_elements = 4 * (tokenizer_bn + 32 * (4 * 32 + 4 * 32 + 32))  # x T; blocks: q, k, v, proj, mlp1, mlp2
    assert with_bn.macs - strict.macs == bn_elements
    fp32 = PROFILES["45nm-fp32"]
    updates = count_spikformer_operations(model, images, SpikformerAccounting(count_neuron_updates=True))
    assert updates.energy_joules(fp32) == pytest.approx(strict.energy_joules(fp32) + updates.neuron_updates * 4.6e-12)
    text = SpikformerAccounting(strict_binary=False, encoder_per_step=False).describe()
    assert "lax" in text and "encoder once" in text and "BN not counted" in text
    with pytest.raises(ValueError, match="neurobench=True"):
        strict.neurobench()  # never zeros in NeuroBench's names (its values: test_neurobench_oracle.py)
    with pytest.raises(ValueError, match="attention rule"):
        SpikformerAccounting(attention="softmax")


def test_bias_adds_are_one_per_output_and_scale_with_the_input_rate_like_the_reference(tiny):
    model, images, spikes = tiny
    plain = {x.name: x for x in count_spikformer_operations(model, images).layers}
    biased = {x.name: x for x in count_spikformer_operations(model, images, SpikformerAccounting(count_bias=True)).layers}
    t, n, d = 4, 32, 32
    mlp1 = "blocks.0.mlp.mlp1.0"  # Conv1d 32 -> 128 with a bias: 128 x 32 tokens x 4 steps outputs
    assert biased[mlp1].dense_ops - plain[mlp1].dense_ops == t * n * 4 * d
    rate = spikes["blocks.0.mlp.mlp1_lif"].mean().item()
    assert biased[mlp1].acs == pytest.approx((t * n * d * 4 * d + t * n * 4 * d) * rate, rel=1e-6)
    q = "blocks.0.attn.q.0"  # no bias: unchanged
    assert biased[q].dense_ops == plain[q].dense_ops and biased["head"].macs == plain["head"].macs + 26
