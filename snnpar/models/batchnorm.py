"""BatchNorm: precise statistics, and folding into the conv before it.

Precise BN replaces running statistics by their exact average over given batches. Why: a spiking network's
firing depends on BN statistics, and an exponential moving average taken during training lags the weights.
The trainer recomputes them after each epoch (demo recipe); tests and benchmarks use the same function to
give an untrained student realistic statistics.

`fold_batchnorm` is the one fold of BN into a conv: the exporter writes it into the NIR graph and Loihi 2
QAT trains through it (differentiably), so both see the very same float64 weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm,
                   dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weight/bias followed by BN (running statistics) -> one weight and bias, differentiable.

    W' = W * g / sqrt(var + eps),  b' = (b - mean) * g / sqrt(var + eps) + beta.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"BatchNorm {bn} tracks no running statistics, so it cannot be folded into a fixed conv")
    gamma = bn.weight.to(dtype) if bn.affine else torch.ones_like(bn.running_var, dtype=dtype)
    beta = bn.bias.to(dtype) if bn.affine else torch.zeros_like(bn.running_mean, dtype=dtype)
    scale = gamma / torch.sqrt(bn.running_var.detach().to(dtype) + bn.eps)
    w = weight.to(dtype) * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    b = bias.to(dtype) if bias is not None else torch.zeros_like(scale)
    b = (b - bn.running_mean.detach().to(dtype)) * scale + beta
    return w, b


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
