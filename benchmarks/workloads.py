"""The models and inputs the benchmarks run: seeded students with calibrated BatchNorm, and seeded images.

An untrained student in eval mode barely fires (BatchNorm running statistics are still 0 / 1, so most layers
see inputs far below threshold), which would make spike agreement trivially perfect and firing rates
meaningless. `calibrate_batchnorm` replaces the running statistics by those of a few random batches, which
gives every layer the normalised inputs (and the firing) of a network in use. Tables state when a model is
"untrained, BN-calibrated" rather than trained. This module does no timing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from snnpar.models.batchnorm import recalibrate_batchnorm
from snnpar.models.registry import create_model


def images(batch: int, image_size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Normalised-looking images [B, 3, H, W] (standard normal), the same for every candidate."""
    return torch.randn(batch, 3, *image_size, generator=torch.Generator().manual_seed(seed))


def calibrate_batchnorm(model: nn.Module, image_size: tuple[int, int], batches: int = 2, batch: int = 4) -> nn.Module:
    """BatchNorm statistics averaged exactly over a few random batches, then eval mode."""
    recalibrate_batchnorm(model, (images(batch, image_size, seed=1000 + i) for i in range(batches)))
    return model.eval()


def student(
    preset: str, image_size: tuple[int, int], time_steps: int | None, neuron_backend: str = "norse", seed: int = 0,
    **overrides,
) -> nn.Module:
    """A student preset with the given input size, T and neuron backend (weights from `seed`)."""
    kwargs = {"image_size": image_size, "neuron_backend": neuron_backend, **overrides}
    if time_steps is not None:
        kwargs["time_steps"] = time_steps
    torch.manual_seed(seed)
    return create_model(preset, **kwargs)


def load_student_checkpoint(path: Path) -> tuple[nn.Module, str]:
    """A trained student from a checkpoint (eval mode) and a description of where it came from."""
    from snnpar.checkpoint import load_model

    model, card = load_model(path)
    return model, f"trained checkpoint {path} ({card.preset})"
