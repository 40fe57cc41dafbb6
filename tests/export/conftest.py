"""Shared fixtures for the export tests: a tiny student (64x32 images, T=4) that actually fires."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnpar.models.registry import create_model

IMAGE_SIZE = (64, 32)
TIME_STEPS = 4


def firing_student(attention: str, seed: int = 0) -> nn.Module:
    """snnpar-tiny in float64 and eval mode, with random weights and non-trivial random BN statistics.

    Running statistics come from one calibration batch, then get random offsets and scales, and BN's
    affine parameters are drawn so that every layer fires at a moderate rate (a test that compares
    spike trains of silent layers would prove nothing).
    """
    torch.manual_seed(seed)
    model = create_model("snnpar-tiny", image_size=IMAGE_SIZE, time_steps=TIME_STEPS, attention=attention).double()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.momentum = None  # cumulative average: one batch sets the statistics exactly
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, *IMAGE_SIZE, dtype=torch.float64))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in norms:
            c = bn.num_features
            bn.running_mean.add_(0.1 * torch.randn(c, generator=gen, dtype=torch.float64))
            bn.running_var.mul_(torch.empty(c, dtype=torch.float64).uniform_(0.8, 1.25, generator=gen))
            bn.weight.uniform_(0.8, 1.6, generator=gen)
            bn.bias.uniform_(0.3, 1.0, generator=gen)
    return model.eval()


@pytest.fixture(scope="session")
def images() -> torch.Tensor:
    return torch.randn(2, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
