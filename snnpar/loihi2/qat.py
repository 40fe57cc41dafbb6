"""Quantisation-aware training for Loihi 2: the student's forward in the chip's integer arithmetic.

`Loihi2Student(model, formats)` runs the Spikingformer the way it runs once exported to NIR, lowered and
quantised (`hw_sim.chip`): BatchNorm folded into each conv (`fold_batchnorm`, the exporter's fold), every
synapse with the chip's integer weights at the trained scales, every neuron group as Lava's bit-accurate
LIF (12-bit decays, 24-bit state, integer threshold and bias), max-pool as SumPool2d + Threshold, SSA as
integer counts times a multiplier, synapse biases carried to the neurons and the readout as the lowering
carries them. Values are exact integers (`snnpar.loihi2.arithmetic`); gradients pass straight through the
roundings and shifts, and through the spikes by the layer's own surrogate. So its spikes, layer by layer,
and its decisions are those of the integer evaluator and of Lava in fixed point.

`formats` is the graph metadata entry `loihi2` (`hw_sim.chip.quantize.formats_metadata`): the input scale
and one scale per node, chosen by the scale rule for the model QAT started from. The model's BatchNorm
statistics stay frozen (the fold uses them); its weights and BN affine parameters train.
It knows the Spikingformer layout only (as `export.lowering` does) and does not choose scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnpar.loihi2 import arithmetic as A
from snnpar.loihi2 import formats as L
from snnpar.models.batchnorm import fold_batchnorm
from snnpar.models.neurons import LIFConfig, fire
from snnpar.models.spikingformer import Spikingformer

DTYPE = torch.float64
RESIDUAL_SOURCE = "tokenizer.proj4_conv"  # the first synapse of the residual stream


@dataclass(frozen=True)
class Group:
    """A neuron group as the lowering sees it: gain, decay, threshold (real units) and its scale."""

    name: str
    gain: float
    decay: float
    threshold: float
    scale: int
    config: LIFConfig | None = None  # surrogate of a LIF layer (None: Threshold, max-pool's OR and SDSA's AND)


def lowered_decay(config: LIFConfig) -> float:
    """dt / tau as the lowering reads it back from the NIR file (tau = dt / decay in float64)."""
    return config.dt / (config.dt / config.decay)


class Loihi2Student(nn.Module):
    """forward(images) -> logits of the Loihi 2 integer network; `record` collects every group's spikes."""

    def __init__(self, model: Spikingformer, formats: dict):
        super().__init__()
        if not isinstance(model, Spikingformer):
            raise TypeError(f"Loihi 2 QAT runs Spikingformer students, not {type(model).__name__}")
        self.model = model
        self.formats = formats
        self.scales = {k: int(v) for k, v in formats["scales"].items()}
        self.input_scale = float(formats["input_scale"])
        self.record: dict[str, torch.Tensor] | None = None

    # -- the pieces, each as the lowering and quantiser define it ------------------------------------------

    def group(self, name: str, config: LIFConfig | None, threshold: float | None = None) -> Group:
        if name not in self.scales:
            raise KeyError(f"the Loihi 2 formats name no scale for {name!r}")
        if config is None:  # a Threshold node: memoryless, gain 1
            return Group(name, 1.0, 1.0, float(threshold), self.scales[name])
        decay = lowered_decay(config)
        return Group(name, decay, decay, config.v_th, self.scales[name], config)

    def synapse_weight(self, name: str, op: str, weight: torch.Tensor, gain: float, input_gain: float,
                       in_scale: float) -> tuple[torch.Tensor, int]:
        """The chip's integer weights of a synapse (forward), with the gradient of the real ones (backward)."""
        target = L.weight_target(weight, gain, input_gain, self.scales[name], in_scale)
        fmt = L.weight_format(op, target.detach())
        return A.exact(fmt.weight, target / 2.0**fmt.exp), fmt.exp

    def neurons(self, group: Group, a: list[torch.Tensor] | torch.Tensor, bias: torch.Tensor | float,
                shape: tuple[int, ...]) -> torch.Tensor:
        """Spikes [T, B, *shape] of a group fed the integer inputs a[t] (a tensor: the same every step)."""
        first = a[0] if isinstance(a, list) else a
        bias = torch.as_tensor(bias, dtype=DTYPE, device=first.device)
        bias_v = torch.broadcast_to(bias * group.gain, shape) * (group.scale * 64)
        rule = cfg.firing_rule if (cfg := group.config) else ">"
        fmt = L.neuron_format(group.threshold, group.decay, 1.0, bias_v.detach() / (group.scale * 64), group.scale,
                              firing_rule=rule)
        bias_int = A.exact(fmt.bias.to(bias_v.device), bias_v)

        def spike(over):  # the chip's strict v > vth << 6 (vth already carries the firing rule), the layer's surrogate
            if cfg is None:
                return A.heaviside(over)
            return fire(over, cfg.surrogate, torch.as_tensor(cfg.surrogate_alpha, dtype=over.dtype), ">")

        steps = len(a) if isinstance(a, list) else self.model.config.time_steps
        u = v = torch.zeros((first.shape[0], *shape), dtype=DTYPE, device=first.device)
        out = []
        for t in range(steps):
            z, u, v = A.lif_step(u, v, a[t] if isinstance(a, list) else a, fmt, bias_int, spike,
                                 detach_reset=bool(cfg and cfg.detach_reset))
            out.append(z)
        spikes = torch.stack(out)
        if self.record is not None:
            self.record[group.name] = spikes.detach()
        return spikes

    def conv(self, name: str, weight: torch.Tensor, x: torch.Tensor, gain: float, in_scale: float, stride=(1, 1),
             padding=(0, 0), groups: int = 1) -> torch.Tensor:
        """A conv synapse on [TB, C, H, W] integer inputs (spikes: in_scale 1)."""
        w, _ = self.synapse_weight(name, "conv", weight, gain, 1.0, in_scale)
        return A.conv(x, w, stride, padding, (1, 1), groups)

    def conv_bn(self, path: str, conv: nn.Conv2d | nn.Conv1d, bn, x: torch.Tensor, gain: float,
                in_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv + folded BN: the integer output and the folded bias (the offset the lowering carries on)."""
        weight, bias = fold_batchnorm(conv.weight, conv.bias, bn, DTYPE)
        if weight.dim() == 3:  # Conv1d 1x1 over tokens: a 2-D conv with H = 1
            out = self.conv(path, weight[:, :, None, :], x.unsqueeze(2), gain, in_scale).squeeze(2)
        else:
            out = self.conv(path, weight, x, gain, in_scale, conv.stride, conv.padding, conv.groups)
        return out, bias

    def max_pool(self, path: str, spikes: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
        """Max-pool of spikes as the graph has it: SumPool2d (integer) then Threshold(0.5); gradient of max."""
        t, b = spikes.shape[:2]
        flat = spikes.flatten(0, 1)
        channels = flat.shape[1]
        group = self.group(path, None, 0.5)
        ones = torch.ones((channels, 1, pool.kernel_size, pool.kernel_size), dtype=DTYPE, device=flat.device)
        summed = self.conv(f"{path}.sum", ones, flat, 1.0, 1.0, (pool.stride,) * 2, (pool.padding,) * 2, channels)
        shape = tuple(summed.shape[1:])
        pooled = self.neurons(group, list(summed.reshape(t, b, *shape)), 0.0, shape)
        return A.exact(pooled, F.max_pool2d(flat, pool.kernel_size, pool.stride, pool.padding).reshape(pooled.shape))

    # -- the network -------------------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, return_features: bool = False):
        with torch.autocast(images.device.type, enabled=False):
            return self._forward(images, return_features)

    def _forward(self, images: torch.Tensor, return_features: bool):
        model, cfg = self.model, self.model.config
        tok = model.tokenizer
        T = cfg.time_steps
        x = torch.round(images.detach().to(DTYPE) * self.input_scale)
        gain = lowered_decay(cfg.lif)
        a, bias = self.conv_bn("tokenizer.proj_conv", tok.proj_conv, tok.proj_bn, x, gain, self.input_scale)
        spikes = self.neurons(self.group("tokenizer.proj1_lif", cfg.lif), a, bias[:, None, None], tuple(a.shape[1:]))
        for i in range(1, 5):
            pooled = self.max_pool(f"tokenizer.maxpool{i}", spikes, getattr(tok, f"maxpool{i}"))
            a, bias = self.conv_bn(f"tokenizer.proj{i}_conv", getattr(tok, f"proj{i}_conv"), getattr(tok, f"proj{i}_bn"),
                                   pooled.flatten(0, 1), gain)
            if i < 4:
                group = self.group(f"tokenizer.proj{i + 1}_lif", cfg.lif)
                spikes = self.neurons(group, list(a.reshape(T, -1, *a.shape[1:])), bias[:, None, None],
                                      tuple(a.shape[1:]))
        d, n = cfg.embed_dim, cfg.num_tokens
        residual = [a.reshape(T, -1, d, n)]  # integer outputs at the residual scale, by step
        offsets = [bias[:, None].expand(d, n)]  # their biases, carried on (the lowering's offsets)
        for j, block in enumerate(model.blocks):
            self._block(f"blocks.{j}", block, residual, offsets)
        return self._readout(residual, offsets, return_features)

    def _residual_neurons(self, path: str, residual: list[torch.Tensor], offsets: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.model.config
        total = residual[0]
        for r in residual[1:]:
            total = total + r
        offset = torch.zeros_like(offsets[0])
        for o in offsets:  # the lowering's order: 0 + o_1 + o_2 + ...
            offset = offset + o
        return self.neurons(self.group(path, cfg.lif), list(total), offset, tuple(total.shape[2:]))

    def _token_conv(self, path: str, seq: nn.Sequential, spikes: torch.Tensor, gain: float) -> tuple[torch.Tensor, torch.Tensor]:
        t, b = spikes.shape[:2]
        out, bias = self.conv_bn(path, seq[0], seq[1], spikes.flatten(0, 1), gain)
        return out.reshape(t, b, *out.shape[1:]), bias[:, None]

    def _block(self, path: str, block, residual: list[torch.Tensor], offsets: list[torch.Tensor]) -> None:
        cfg = self.model.config
        attn, mlp = block.attn, block.mlp
        gain = lowered_decay(cfg.lif)
        d, n = cfg.embed_dim, cfg.num_tokens
        s = self._residual_neurons(f"{path}.attn.proj_lif", residual, offsets)
        qkv = []
        for role in ("q", "k", "v"):
            a, bias = self._token_conv(f"{path}.attn.{role}", getattr(attn, role), s, gain)
            qkv.append(self.neurons(self.group(f"{path}.attn.{role}_lif", cfg.lif), list(a), bias, (d, n)))
        q, k, v = qkv
        if attn.mode == "ssa":
            gated = self._ssa(f"{path}.attn", q, k, v, attn)
        else:
            gated = self._sdsa(f"{path}.attn", q, k, v)
        a, bias = self._token_conv(f"{path}.attn.proj", attn.proj, gated, gain)
        residual.append(a)
        offsets.append(bias.expand(d, n))
        hidden = self._residual_neurons(f"{path}.mlp.mlp1_lif", residual, offsets)
        a, bias = self._token_conv(f"{path}.mlp.mlp1", mlp.mlp1, hidden, gain)
        hidden = self.neurons(self.group(f"{path}.mlp.mlp2_lif", cfg.lif), list(a), bias, tuple(a.shape[2:]))
        a, bias = self._token_conv(f"{path}.mlp.mlp2", mlp.mlp2, hidden, gain)
        residual.append(a)
        offsets.append(bias.expand(d, n))

    def _ssa(self, path: str, q, k, v, attn) -> torch.Tensor:
        cfg = self.model.config
        group = self.group(f"{path}.attn_lif", cfg.attention_lif)
        multiplier = L.attention_multiplier(attn.scale, group.gain, group.scale)
        t, b = q.shape[:2]
        a = A.attention(q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), attn.num_heads, multiplier)
        return self.neurons(group, list(a.reshape(t, b, *a.shape[1:])), 0.0, tuple(a.shape[1:]))

    def _sdsa(self, path: str, q, k, v) -> torch.Tensor:
        """v AND LIF(sum over tokens of (q AND k)), each AND a Threshold(1.5) group fed spikes straight."""
        cfg = self.model.config
        t, b, c, n = q.shape
        both = self.neurons(self.group(f"{path}.q_and_k", None, 1.5), list(q + k), 0.0, (c, n))
        both = A.exact(both, q * k)
        group = self.group(f"{path}.attn_lif", cfg.attention_lif)
        ones = torch.ones((c, 1, 1, n), dtype=DTYPE, device=q.device)
        summed = self.conv(f"{path}.token_sum", ones, both.flatten(0, 1).unsqueeze(2), group.gain, 1.0, groups=c)
        attn = self.neurons(group, list(summed.reshape(t, b, c, 1)), 0.0, (c, 1))
        # the broadcast back over tokens (a 'full' conv of width N), into the second AND with gain 1
        spread = self.conv(f"{path}.broadcast", torch.ones((c, 1, 1, n), dtype=DTYPE, device=q.device),
                           attn.flatten(0, 1).unsqueeze(2), 1.0, 1.0, padding=(0, n - 1), groups=c)
        gated = self.neurons(self.group(f"{path}.v_and_attn", None, 1.5), list(v + spread.reshape(t, b, c, n)), 0.0,
                             (c, n))
        return A.exact(gated, v * attn)

    def _readout(self, residual: list[torch.Tensor], offsets: list[torch.Tensor], return_features: bool):
        """The head as the graph has it: Affine on the flattened residual stream (W / N per token), its
        integer outputs back in real units, plus the offset the stream's biases carry through it."""
        cfg = self.model.config
        head = self.model.head
        d, n = cfg.embed_dim, cfg.num_tokens
        gain = lowered_decay(cfg.lif)
        total = residual[0]
        for r in residual[1:]:
            total = total + r
        offset = torch.zeros_like(offsets[0])
        for o in offsets:
            offset = offset + o
        weight = head.weight.to(DTYPE)
        affine = torch.repeat_interleave(weight / n, n, dim=1)
        in_scale = self.scales[RESIDUAL_SOURCE]  # every synapse of the residual stream shares its scale
        w, exp = self.synapse_weight("head", "dense", affine, 1.0, gain, in_scale)
        t, b = total.shape[:2]
        out = A.dense(total.reshape(t * b, d * n), w, exp).reshape(t, b, -1)
        head_bias = (head.bias.to(DTYPE) if head.bias is not None
                     else torch.zeros(weight.shape[0], dtype=DTYPE, device=weight.device))
        logits = A.readout(out, self.scales["head"], head_bias + affine @ offset.reshape(-1))
        if return_features:
            tokens = total / (gain * in_scale) + offset  # the residual stream in real units
            return logits, tokens.mean(dim=0).transpose(1, 2)
        return logits

