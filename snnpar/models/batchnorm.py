"""Precise BatchNorm: replace running statistics by their exact average over given batches.

Why: a spiking network's firing depends on BN statistics, and an exponential moving average taken
during training lags the weights. The trainer recomputes them after each epoch (demo recipe); tests and
benchmarks use the same function to give an untrained student realistic statistics.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Set every BN's running mean/var to the cumulative average over `model(batch)` for each batch.

    Returns the number of images seen. The model's train/eval mode and the BN momenta are restored.
    """
    norms = batchnorm_layers(model)
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was_training = model.training
    model.train()
    seen = 0
    try:
        for images in batches:
            model(images)
            seen += images.shape[0]
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return seen
