"""A tiny student that fires on every layer, for tests that compare spike trains (silent layers prove nothing)."""

from __future__ import annotations

import torch
from torch import nn

from snnpar.models.batchnorm import batchnorm_layers, recalibrate_batchnorm
from snnpar.models.registry import create_model

IMAGE_SIZE = (64, 32)  # 4 x 2 = 8 tokens
TIME_STEPS = 4


def firing_student(attention: str, seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE,
                   time_steps: int = TIME_STEPS, num_attributes: int = 26) -> nn.Module:
    """snnpar-tiny in float64 and eval mode with random weights and non-trivial random BN statistics.

    Statistics come from one calibration batch, then get random offsets and scales, and BN's affine
    parameters are drawn so that every layer fires at a moderate rate. float64, so BN folding cannot
    flip a spike through rounding.
    """
    torch.manual_seed(seed)
    model = create_model("snnpar-tiny", image_size=image_size, time_steps=time_steps, attention=attention,
                         num_attributes=num_attributes).double()
    recalibrate_batchnorm(model, [torch.randn(4, 3, *image_size, dtype=torch.float64)])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in batchnorm_layers(model):
            c = bn.num_features
            bn.running_mean.add_(0.1 * torch.randn(c, generator=gen, dtype=torch.float64))
            bn.running_var.mul_(torch.empty(c, dtype=torch.float64).uniform_(0.8, 1.25, generator=gen))
            bn.weight.uniform_(0.8, 1.6, generator=gen)
            bn.bias.uniform_(0.3, 1.0, generator=gen)
    return model.eval()


def active_tiny_student():
    """The tiny student with BN scaled up so every layer spikes (random init alone goes silent)."""
    torch.manual_seed(0)
    model = create_model("snnpar-tiny").eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.fill_(3.0)
                m.bias.fill_(0.5)
    return model
