"""The tiny Spikingformer student: gradients, recorded spikes, both attention modes, and that it learns."""

import pytest
import torch
import torch.nn.functional as F

from snnpar.models import create_model, record_spikes, spiking_layers
from snnpar.models.neurons import MultiStepLIF


def tiny_student(attention: str = "ssa", seed: int = 0, image_size=(128, 64)):
    torch.manual_seed(seed)
    return create_model("snnpar-tiny", num_attributes=6, attention=attention, image_size=image_size)


def images(n: int = 4, seed: int = 1, image_size=(128, 64)) -> torch.Tensor:
    return torch.randn(n, 3, *image_size, generator=torch.Generator().manual_seed(seed)) * 2


def with_batchnorm_statistics(model, x):
    """Eval mode with BN running statistics measured on x (fresh BN is the identity: too few spikes)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one pass sets the statistics
    with torch.no_grad():
        model.train()(x)
    for bn in norms:
        bn.momentum = 0.1
    return model.eval()


@pytest.mark.parametrize("attention", ["ssa", "sdsa"])
def test_gradients_reach_every_parameter_of_tiny_student(attention):
    model = tiny_student(attention).train()
    labels = (torch.arange(12).reshape(2, 6) % 3 == 0).float()
    F.binary_cross_entropy_with_logits(model(images(2)), labels).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("attention", ["ssa", "sdsa"])
def test_recorded_spikes_are_binary_and_named_by_module_path(attention):
    model = with_batchnorm_statistics(tiny_student(attention), images(4))
    with torch.no_grad(), record_spikes(model) as spikes:
        model(images(2))
    neuron_paths = [n for n, m in model.named_modules() if isinstance(m, MultiStepLIF)]
    assert list(spikes) == neuron_paths == list(spiking_layers(model))
    assert {"tokenizer.proj1_lif", "tokenizer.proj4_lif", "blocks.0.attn.q_lif", "blocks.0.attn.attn_lif",
            "blocks.0.mlp.mlp2_lif"} <= set(spikes)
    for name, s in spikes.items():
        assert s.shape[:2] == (4, 2), name  # [T, B, ...]
        assert set(s.unique().tolist()) <= {0.0, 1.0}, name
    silent = [name for name, s in spikes.items() if not s.any()]
    assert not silent, f"layers that never spiked: {silent}"
    token_sum_shape = spikes["blocks.0.attn.attn_lif"].shape
    assert token_sum_shape == ((4, 2, 32, 32) if attention == "ssa" else (4, 2, 32, 1))


def test_ssa_and_sdsa_both_run_and_differ():
    ssa = with_batchnorm_statistics(tiny_student("ssa"), images(4))
    sdsa = tiny_student("sdsa").eval()
    sdsa.load_state_dict(ssa.state_dict())  # same weights and BN statistics: only the attention rule differs
    x = images(2)
    with torch.no_grad():
        out_ssa, out_sdsa = ssa(x), sdsa(x)
    assert out_ssa.shape == out_sdsa.shape == (2, 6)
    assert torch.isfinite(out_ssa).all() and torch.isfinite(out_sdsa).all()
    assert not torch.allclose(out_ssa, out_sdsa)


def test_tiny_student_overfits_a_handful_of_fixed_images():
    # 64x32 inputs (a 4x2 token grid) keep 12 Adam steps within a few CPU seconds.
    model = tiny_student("ssa", seed=3, image_size=(64, 32)).train()
    x = images(4, seed=4, image_size=(64, 32))
    labels = (torch.rand(4, 6, generator=torch.Generator().manual_seed(5)) > 0.5).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.35 * losses[0], losses
