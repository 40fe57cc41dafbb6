"""Oracle: the SNN-PAR student as its released code builds it, from SpikingJelly's own neurons.

Module names, layer types and the order of operations follow OpenPAR's SNN-PAR/models/SNN_model.py
(Spikingformer's ImageNet model): `patch_embed.proj_conv`, `block.{j}.attn.q_conv` / `q_bn` / `q_lif`,
`block.{j}.mlp.mlp1_conv` (a 1x1 Conv2d on the [T*B, C, H, W] token grid) / `mlp1_bn` (BatchNorm2d),
`block.{j}.norm1` / `norm2` (LayerNorms that are built but never called), `head`. Every neuron is
`spikingjelly.clock_driven.neuron.MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')`, the
attention neuron with v_threshold=0.5, exactly as that code constructs them. Its state dict is therefore
a checkpoint in the reference's key layout, and its neurons are the reference's numerics.

Written here for the tests (SpikingJelly is a test dependency); nothing in the package imports it.
"""

from __future__ import annotations

import warnings

from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from spikingjelly.clock_driven import functional as sj_functional
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode


def lif(v_threshold: float = 1.0) -> MultiStepLIFNode:
    return MultiStepLIFNode(tau=2.0, v_threshold=v_threshold, detach_reset=True, backend="torch")


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.mlp1_lif, self.mlp1_conv, self.mlp1_bn = lif(), nn.Conv2d(dim, hidden, 1), nn.BatchNorm2d(hidden)
        self.mlp2_lif, self.mlp2_conv, self.mlp2_bn = lif(), nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim)

    def forward(self, x):  # [T, B, C, H, W]
        t, b, c, h, w = x.shape
        x = self.mlp1_bn(self.mlp1_conv(self.mlp1_lif(x).flatten(0, 1))).reshape(t, b, -1, h, w)
        return self.mlp2_bn(self.mlp2_conv(self.mlp2_lif(x).flatten(0, 1))).reshape(t, b, c, h, w)


class SpikingSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.scale = num_heads, 0.125
        self.proj_lif = lif()
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", lif())
        self.attn_lif = lif(0.5)
        self.proj_conv, self.proj_bn = nn.Conv1d(dim, dim, 1), nn.BatchNorm1d(dim)

    def forward(self, x):  # [T, B, C, H, W]
        t, b, c, h, w = x.shape
        s = self.proj_lif(x).flatten(3).flatten(0, 1)  # [T*B, C, N]
        n = s.shape[-1]

        def heads(name):
            z = getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(s)).reshape(t, b, c, n)
            z = getattr(self, f"{name}_lif")(z)
            return z.transpose(-1, -2).reshape(t, b, n, self.num_heads, c // self.num_heads).permute(0, 1, 3, 2, 4)

        q, k, v = heads("q"), heads("k"), heads("v")
        a = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        a = self.attn_lif(a.transpose(3, 4).reshape(t, b, c, n))
        return self.proj_bn(self.proj_conv(a.flatten(0, 1))).reshape(t, b, c, h, w)


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)  # unused, as in the reference
        self.attn = SpikingSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)  # unused
        self.mlp = MLP(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingTokenizer(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        widths = [dim // 8, dim // 4, dim // 2, dim, dim]
        self.proj_conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(widths[0])
        for i in range(1, 5):
            setattr(self, f"proj{i}_lif", lif())
            setattr(self, f"maxpool{i}", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            setattr(self, f"proj{i}_conv", nn.Conv2d(widths[i - 1], widths[i], 3, 1, 1, bias=False))
            setattr(self, f"proj{i}_bn", nn.BatchNorm2d(widths[i]))

    def forward(self, x):  # [T, B, 3, H, W]
        t, b = x.shape[:2]
        x = self.proj_bn(self.proj_conv(x.flatten(0, 1)))
        for i in range(1, 5):
            x = getattr(self, f"proj{i}_lif")(x.reshape(t, b, *x.shape[1:])).flatten(0, 1)
            x = getattr(self, f"proj{i}_bn")(getattr(self, f"proj{i}_conv")(getattr(self, f"maxpool{i}")(x)))
        return x.reshape(t, b, *x.shape[1:])


class ReferenceSpikingformer(nn.Module):
    """vit_snn of SNN-PAR: forward(images) -> (logits [B, A], T-averaged tokens [B, N, D])."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, num_classes: int, time_steps: int,
                 mlp_ratio: int = 4):
        super().__init__()
        self.T = time_steps
        self.patch_embed = SpikingTokenizer(embed_dim)
        self.block = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, images):
        sj_functional.reset_net(self)  # every call is one presentation, as the reference's reset_net after a batch
        x = self.patch_embed(images.unsqueeze(0).repeat(self.T, 1, 1, 1, 1))
        for blk in self.block:
            x = blk(x)
        x = x.flatten(3)
        return self.head(x.mean(3).mean(0)), x.transpose(2, 3).mean(0)


def neuron_paths(model: nn.Module) -> dict[str, MultiStepLIFNode]:
    return {name: m for name, m in model.named_modules() if isinstance(m, MultiStepLIFNode)}
