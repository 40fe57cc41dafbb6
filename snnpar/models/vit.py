"""A plain Vision Transformer encoder (pre-norm blocks), shared by the VTB teacher and the ViT baseline.

Module names follow timm's `VisionTransformer` (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.{i}.norm1`` / ``attn.qkv`` / ``attn.proj`` / ``norm2`` / ``mlp.fc1`` / ``mlp.fc2``, ``norm``), so
ImageNet checkpoints in timm's key layout load without renaming (see `snnpar.models.pretrained`).
Images need not be square: 16x16 patches on a 256x128 image give a 16x8 grid of 128 tokens.

Attention is written out as matrix products (not `scaled_dot_product_attention`) so that
`torch.utils.flop_counter` sees and counts it on every device. This module holds no classifier head:
the teacher and the baseline put their own heads on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import stochastic_depth


@dataclass(frozen=True)
class ViTConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    image_size: tuple[int, int] = (256, 128)  # H, W; each divisible by patch_size
    class_token: bool = True  # timm/ImageNet layout; the baseline pools tokens and needs none
    qkv_bias: bool = True
    norm_eps: float = 1e-6  # timm's ViT LayerNorm epsilon
    patch_embed: str = "linear"  # "linear": ViT's P x P patches; "conv": a convolutional stem (see ConvStem)
    drop_path_rate: float = 0.0  # stochastic depth of the last block; block i gets rate * i / (depth - 1)

    def __post_init__(self):
        h, w = self.image_size
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be divisible by patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}")
        if self.patch_embed not in ("linear", "conv"):
            raise ValueError(f"patch_embed must be 'linear' or 'conv', not {self.patch_embed!r}")
        if self.patch_embed == "conv" and (self.patch_size & (self.patch_size - 1) or self.embed_dim % 8):
            raise ValueError("patch_embed='conv' needs a power-of-two patch_size and embed_dim divisible by 8")

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw


class PatchEmbed(nn.Module):
    """Non-overlapping P x P patches -> tokens [B, N, D] in row-major grid order."""

    def __init__(self, patch_size: int, embed_dim: int, in_channels: int = 3):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head softmax self-attention with a fused qkv projection (timm layout)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, N, D]; key_mask [B, N] bool, False where a token (padding) must not be attended to."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, N, dh]
        scores = (q * self.scale) @ k.transpose(-2, -1)
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ConvStem(nn.Module):
    """Stride-2 3x3 convs (+BN, ReLU) down to the patch grid, then a 1x1 projection: tokens [B, N, D].

    Why: a ViT with linear 16x16 patches trained from scratch on a few thousand small images barely
    learns; early convolutions (Xiao et al., "Early Convolutions Help Transformers See Better", 2021)
    give it a locality prior. Same grid, so the same token count N as the linear patch embedding.
    """

    def __init__(self, patch_size: int, embed_dim: int, in_channels: int = 3):
        super().__init__()
        stages = patch_size.bit_length() - 1  # log2(patch_size)
        widths = [in_channels] + [max(embed_dim >> (stages - 1 - i), 8) for i in range(stages)]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.stem = nn.Sequential(*layers)
        self.proj = nn.Conv2d(widths[-1], embed_dim, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stem(images)).flatten(2).transpose(1, 2)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)). Any token count.

    drop_path: stochastic depth (torchvision's, per sample, survivors scaled by 1 / (1 - p)), in training only.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, eps: float = 1e-6,
                 drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = drop_path

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.drop_path, "row", self.training) if self.drop_path else x

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self._drop(self.attn(self.norm1(x), key_mask))
        return x + self._drop(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """Patch embedding, optional class token, learned position embedding, blocks, final LayerNorm.

    The owner decides how many blocks to run (`embed(images)` then `run_blocks(x, stop)`): the
    teacher runs all but the last and reuses the last one for fusion.
    """

    def __init__(self, cfg: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = cfg
        d = cfg.embed_dim
        stem = ConvStem if cfg.patch_embed == "conv" else PatchEmbed
        self.patch_embed = stem(cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if cfg.class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + self.num_prefix_tokens, d))
        rates = torch.linspace(0, cfg.drop_path_rate, cfg.depth, device="cpu").tolist()  # timm's and VTB's rule
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.norm_eps, rate) for rate in rates
        )
        self.norm = nn.LayerNorm(d, eps=cfg.norm_eps)
        self._init_weights()

    @property
    def num_prefix_tokens(self) -> int:
        return 1 if self.config.class_token else 0

    def _init_weights(self) -> None:
        """timm's defaults: truncated normal (std 0.02) for embeddings and Linear weights, zero biases."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> [B, prefix + N, D]: patch tokens (after the class token) plus positions."""
        expected = (3, *self.config.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected images of shape [B, {', '.join(map(str, expected))}], got {list(images.shape)}")
        x = self.patch_embed(images)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos_embed

    def run_blocks(self, x: torch.Tensor, stop: int | None = None) -> torch.Tensor:
        """Apply blocks[:stop] (all of them by default)."""
        for block in self.blocks[:stop]:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """All blocks and the final norm: [B, prefix + N, D]."""
        return self.norm(self.run_blocks(self.embed(images)))


def resize_pos_embed(pos_embed: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
                     num_prefix_tokens: int) -> torch.Tensor:
    """Resize [1, prefix + gh*gw, D] position embeddings to another grid by bilinear interpolation.

    The prefix (class-token) positions are kept as they are; only the patch grid is interpolated,
    bilinearly without anti-aliasing (align_corners=False), as VTB does when moving ImageNet's 14x14
    grid to a pedestrian's 16x8.
    """
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if grid.shape[1] != old_grid[0] * old_grid[1]:
        raise ValueError(f"position embedding has {grid.shape[1]} grid positions, not {old_grid[0]}x{old_grid[1]}")
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    d = grid.shape[-1]
    grid = grid.reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bilinear", align_corners=False).to(pos_embed.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], d)
    return torch.cat([prefix, grid], dim=1)
