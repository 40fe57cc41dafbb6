"""The ANN baseline of the paper's Table 2: the student's SNN swapped for a ViT of the same width.

Patch tokens (no class token) -> blocks -> LayerNorm -> mean over tokens -> Linear(D -> attributes).
It exposes the same interface as the student (`forward(images, return_features=False)`), so the
training loop and feature distillation treat both alike. Not a teacher: it has no text side.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snnpar.models.vit import VisionTransformer, ViTConfig


@dataclass(frozen=True)
class ViTBaselineConfig:
    embed_dim: int = 768
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: float = 4.0
    num_attributes: int = 26
    image_size: tuple[int, int] = (256, 128)
    patch_embed: str = "linear"  # "conv": a convolutional stem (the tiny preset; see vit.ConvStem)

    def vit_config(self) -> ViTConfig:
        return ViTConfig(embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads,
                         mlp_ratio=self.mlp_ratio, image_size=tuple(self.image_size), class_token=False,
                         patch_embed=self.patch_embed)


class ViTBaseline(nn.Module):
    """forward(images) -> logits [B, A]; with return_features also the normalised tokens [B, N, D]."""

    def __init__(self, cfg: ViTBaselineConfig = ViTBaselineConfig()):
        super().__init__()
        self.config = cfg
        self.vit = VisionTransformer(cfg.vit_config())
        self.head = nn.Linear(cfg.embed_dim, cfg.num_attributes)

    def forward(self, images: torch.Tensor, return_features: bool = False):
        tokens = self.vit(images)  # [B, N, D] after the final LayerNorm
        logits = self.head(tokens.mean(dim=1))
        if return_features:
            return logits, tokens
        return logits
