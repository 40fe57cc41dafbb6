"""The student: Spikingformer (spiking tokenizer, spiking attention, spiking MLP, linear head) on Norse.

Layer order and names follow Spikingformer's reference code (see DESIGN.md): a real-valued encoder
conv, four LIF -> MaxPool -> Conv -> BN stages, blocks with pre-activation (spike-driven) residuals
x = x + SSA(x); x = x + MLP(x), and a head that averages tokens, then time, then applies a Linear.

Shapes: the input image is [B, 3, H, W]; inside, time leads: [T, B, C, H, W] in the tokenizer and
[T, B, C, N] (N = H/16 * W/16 tokens) in the blocks. Every neuron is a `MultiStepLIF` whose module
path (e.g. ``blocks.0.attn.q_lif``) names the layer for recording, export and comparison. Its numerics
are the reference's (SpikingJelly: fire on v >= v_th, detached reset, Sigmoid(4) surrogate) unless
``neurons="norse"`` (see `snnpar.models.neurons`).

Two attention modes:
- ``ssa``: Spikingformer's spiking self-attention, a = (q (k^T v)) * 0.125, then a LIF with v_th 0.5.
- ``sdsa``: the Spike-Driven Transformer's attention, out = v AND LIF(sum over tokens of (q AND k)),
  which needs no product of two time-varying signals and so is expressible in standard NIR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from snnpar.models.neurons import NEURON_MODELS, LIFConfig, make_lif


@dataclass(frozen=True)
class SpikingformerConfig:
    embed_dim: int = 768
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: int = 4
    num_attributes: int = 26
    image_size: tuple[int, int] = (256, 128)  # H, W; must be divisible by 16
    time_steps: int = 8
    attention: str = "ssa"  # "ssa" or "sdsa"
    attention_scale: float = 0.125
    neurons: str = "reference"  # a NEURON_MODELS name: "reference" (SpikingJelly's numerics) or "norse"
    lif: LIFConfig | None = field(default=None)  # None: the `neurons` model (v_th 1)
    attention_lif: LIFConfig | None = field(default=None)  # SSA's attn_lif, SDSA's token-sum neuron; None: v_th 0.5
    neuron_backend: str = "norse"

    def __post_init__(self):
        if self.neurons not in NEURON_MODELS:
            raise ValueError(f"neurons must be one of {sorted(NEURON_MODELS)}, not {self.neurons!r}")
        base = NEURON_MODELS[self.neurons]
        if self.lif is None:
            object.__setattr__(self, "lif", base)
        if self.attention_lif is None:
            object.__setattr__(self, "attention_lif", replace(base, v_th=0.5))
        h, w = self.image_size
        if h % 16 or w % 16:
            raise ValueError(f"image_size {self.image_size} must be divisible by 16 (four stride-2 poolings)")
        if self.embed_dim % 8 or self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by 8 and by num_heads {self.num_heads}")
        if self.attention not in ("ssa", "sdsa"):
            raise ValueError(f"attention must be 'ssa' or 'sdsa', not {self.attention!r}")

    @property
    def num_tokens(self) -> int:
        return (self.image_size[0] // 16) * (self.image_size[1] // 16)

    def with_(self, **changes) -> SpikingformerConfig:
        return replace(self, **changes)


def _over_time(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless layer to [T, B, ...] by folding time into the batch."""
    y = module(x.flatten(0, 1))
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class SpikingTokenizer(nn.Module):
    """Image -> tokens. The first conv sees the real-valued image: it is the input encoder layer."""

    def __init__(self, cfg: SpikingformerConfig):
        super().__init__()
        d = cfg.embed_dim
        widths = [d // 8, d // 4, d // 2, d, d]
        self.proj_conv = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn = nn.BatchNorm2d(widths[0])
        for i in range(1, 5):
            setattr(self, f"proj{i}_lif", make_lif(cfg.lif, cfg.neuron_backend))
            setattr(self, f"maxpool{i}", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            setattr(self, f"proj{i}_conv", nn.Conv2d(widths[i - 1], widths[i], 3, 1, 1, bias=False))
            setattr(self, f"proj{i}_bn", nn.BatchNorm2d(widths[i]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B, 3, H, W] real -> [T, B, D, N] real (BN output: the residual stream starts here)."""
        x = _over_time(nn.Sequential(self.proj_conv, self.proj_bn), x)
        for i in range(1, 5):
            x = getattr(self, f"proj{i}_lif")(x)
            stage = nn.Sequential(getattr(self, f"maxpool{i}"), getattr(self, f"proj{i}_conv"), getattr(self, f"proj{i}_bn"))
            x = _over_time(stage, x)
        return x.flatten(3)


class ConvBN1d(nn.Sequential):
    """1x1 Conv1d + BatchNorm1d over [TB, C, N]; BN folds into the conv at export."""

    def __init__(self, c_in: int, c_out: int, bias: bool):
        super().__init__(nn.Conv1d(c_in, c_out, kernel_size=1, bias=bias), nn.BatchNorm1d(c_out))


class SpikingSelfAttention(nn.Module):
    def __init__(self, cfg: SpikingformerConfig):
        super().__init__()
        d = cfg.embed_dim
        self.mode = cfg.attention
        self.num_heads = cfg.num_heads
        self.scale = cfg.attention_scale
        self.proj_lif = make_lif(cfg.lif, cfg.neuron_backend)
        self.q = ConvBN1d(d, d, bias=False)
        self.q_lif = make_lif(cfg.lif, cfg.neuron_backend)
        self.k = ConvBN1d(d, d, bias=False)
        self.k_lif = make_lif(cfg.lif, cfg.neuron_backend)
        self.v = ConvBN1d(d, d, bias=False)
        self.v_lif = make_lif(cfg.lif, cfg.neuron_backend)
        # SSA: LIF on the attention output; SDSA: LIF on the per-channel token sum of q AND k.
        self.attn_lif = make_lif(cfg.attention_lif, cfg.neuron_backend)
        self.proj = ConvBN1d(d, d, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.proj_lif(x)
        q = self.q_lif(_over_time(self.q, s))
        k = self.k_lif(_over_time(self.k, s))
        v = self.v_lif(_over_time(self.v, s))
        if self.mode == "ssa":
            a = self.attn_lif(ssa_attention(q, k, v, self.num_heads, self.scale))
        else:
            a = v * self.attn_lif((q * k).sum(dim=-1, keepdim=True))
        return _over_time(self.proj, a)


def ssa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, scale: float) -> torch.Tensor:
    """Spikingformer's attention per step and head: (q (k^T v)) * scale, no softmax.

    q, k, v: [T, B, C, N] -> [T, B, C, N]. Computing k^T v first keeps it linear in N.
    """
    t, b, c, n = q.shape
    heads = lambda z: z.reshape(t, b, num_heads, c // num_heads, n).transpose(-1, -2)  # noqa: E731
    qh, kh, vh = heads(q), heads(k), heads(v)  # [T, B, H, N, dh]
    out = (qh @ (kh.transpose(-1, -2) @ vh)) * scale
    return out.transpose(-1, -2).reshape(t, b, c, n)


class SpikingMLP(nn.Module):
    def __init__(self, cfg: SpikingformerConfig):
        super().__init__()
        d, hidden = cfg.embed_dim, cfg.embed_dim * cfg.mlp_ratio
        self.mlp1_lif = make_lif(cfg.lif, cfg.neuron_backend)
        self.mlp1 = ConvBN1d(d, hidden, bias=True)
        self.mlp2_lif = make_lif(cfg.lif, cfg.neuron_backend)
        self.mlp2 = ConvBN1d(hidden, d, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _over_time(self.mlp1, self.mlp1_lif(x))
        return _over_time(self.mlp2, self.mlp2_lif(x))


class SpikingBlock(nn.Module):
    def __init__(self, cfg: SpikingformerConfig):
        super().__init__()
        self.attn = SpikingSelfAttention(cfg)
        self.mlp = SpikingMLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class Spikingformer(nn.Module):
    """The SNN-PAR student. forward(images) -> one logit per attribute."""

    def __init__(self, cfg: SpikingformerConfig = SpikingformerConfig()):
        super().__init__()
        self.config = cfg
        self.tokenizer = SpikingTokenizer(cfg)
        self.blocks = nn.ModuleList(SpikingBlock(cfg) for _ in range(cfg.depth))
        self.head = nn.Linear(cfg.embed_dim, cfg.num_attributes)

    def forward_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> residual-stream tokens [T, B, D, N] after the last block."""
        expected = (3, *self.config.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected images of shape [B, {', '.join(map(str, expected))}], got {list(images.shape)}")
        x = images.unsqueeze(0).expand(self.config.time_steps, *images.shape)  # direct encoding
        x = self.tokenizer(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor, return_features: bool = False):
        """Logits [B, A]; with return_features also the T-averaged tokens [B, N, D] (for feature KD)."""
        tokens = self.forward_tokens(images)
        logits = self.head(tokens.mean(dim=3).mean(dim=0))
        if return_features:
            return logits, tokens.mean(dim=0).transpose(1, 2)
        return logits
