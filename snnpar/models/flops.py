"""Learnable parameters and forward FLOPs of a model, as reported in Table 4 of the paper.

FLOPs are counted by PyTorch's own `torch.utils.flop_counter.FlopCounterMode` over one real forward
pass. Its convention: FLOPs = 2 x multiply-accumulates of convolutions, linear layers and matrix
products (attention included); element-wise work (norms, activations, softmax, neurons, pooling,
residual sums) is not counted. For a spiking student the figure is the dense count of one forward
with all T time steps, i.e. as if every spike were a real-valued activation: an upper bound on its
arithmetic, not its energy (sparse synaptic operations are `hw_sim.analysis.energy`'s job).

Works on models built on the meta device (no arithmetic is done, only shapes), which is how the CLI
counts the big presets in a second.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Learnable parameters (requires_grad); buffers such as BN statistics are not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, image_size: tuple[int, int] | None = None, batch: int = 1) -> int:
    """Forward FLOPs (2 x MACs) of `model` on `batch` images of image_size (H, W), in eval mode.

    image_size defaults to the model's `config.image_size`. Work done once per batch rather than
    once per image (the teacher's text encoder) is counted once, so batch=1 gives the per-image cost
    including it.
    """
    if image_size is None:
        image_size = getattr(getattr(model, "config", None), "image_size", None)
        if image_size is None:
            raise ValueError(f"{type(model).__name__} has no config.image_size: pass image_size=(H, W)")
    device = next(model.parameters()).device
    images = torch.zeros(batch, 3, *image_size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
