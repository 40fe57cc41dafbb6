"""Image transforms of the PAR field: resize, pad-and-crop, flip, normalise (torchvision).

Training: Resize(H, W) -> Pad(10) -> RandomCrop(H, W) -> RandomHorizontalFlip -> ToTensor -> Normalize.
Evaluation: Resize(H, W) -> ToTensor -> Normalize with mean = std = 0.5 per channel, as VTB and SNN-PAR
normalise (for student and teacher alike) and as Google's ImageNet ViT weights were trained.
A horizontal flip keeps every PA100K/PETA/RAP attribute valid (none of them is left/right).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torchvision.transforms import Compose

NORMALIZATION: dict[str, list[float]] = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
PAD = 10


def _size(image_size: tuple[int, int]) -> tuple[int, int]:
    if len(image_size) != 2 or min(int(image_size[0]), int(image_size[1])) < 1:
        raise ValueError(f"image_size must be (height, width) in pixels, got {image_size}")
    return int(image_size[0]), int(image_size[1])


def train_transform(image_size: tuple[int, int], normalization: dict | None = None) -> Compose:
    from torchvision import transforms as T

    norm = normalization or NORMALIZATION
    size = _size(image_size)
    return T.Compose([
        T.Resize(size),
        T.Pad(PAD),
        T.RandomCrop(size),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(norm["mean"], norm["std"]),
    ])  # fmt: skip


def eval_transform(image_size: tuple[int, int], normalization: dict | None = None) -> Compose:
    """Resize and normalise; `normalization` ({"mean", "std"}, e.g. a checkpoint's own) defaults to NORMALIZATION,
    so a checkpoint trained with other statistics (earlier versions: ImageNet's) sees the images it was trained on."""
    from torchvision import transforms as T

    norm = normalization or NORMALIZATION
    return T.Compose([T.Resize(_size(image_size)), T.ToTensor(), T.Normalize(norm["mean"], norm["std"])])


def denormalize(tensor: torch.Tensor, normalization: dict | None = None) -> torch.Tensor:
    """Undo Normalize: [3, H, W] or [B, 3, H, W] back to [0, 1] (clamped), e.g. for drawing.
    `normalization` ({"mean", "std"}, e.g. a checkpoint's) defaults to the project's NORMALIZATION."""
    import torch

    if tensor.dim() not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"denormalize expects [3, H, W] or [B, 3, H, W], got {tuple(tensor.shape)}")
    norm = normalization or NORMALIZATION
    mean = torch.tensor(norm["mean"], dtype=tensor.dtype, device=tensor.device).view(3, 1, 1)
    std = torch.tensor(norm["std"], dtype=tensor.dtype, device=tensor.device).view(3, 1, 1)
    return (tensor * std + mean).clamp(0.0, 1.0)
