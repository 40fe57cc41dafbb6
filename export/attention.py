"""Attention in NIR: the project's extension node for SSA, and SDSA lowered to standard nodes.

SSA (Spikingformer) multiplies three time-varying spike signals, (q k^T) v, which no standard NIR
node expresses; `SpikingSelfAttention` is a node written in NIR's own style (a dataclass, its
equation, its fields, a shape check). SDSA (Spike-Driven Transformer) only needs ANDs of spikes, a
sum over tokens and a broadcast back, all expressible as Threshold and per-channel Linear nodes, so
an SDSA graph stays pure NIR. This module does not read or write files (see `export.graph_io`) and does
not run anything apart from the SSA equation itself (`ssa_step`, shared by the executors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nir
import numpy as np
import torch

EXTENSION_NAME = "SpikingSelfAttention"
EXTENSION_VERSION = 1


@dataclass(eq=False)
class SpikingSelfAttention(nir.NIRNode):
    r"""Spikingformer's spiking self-attention, per head and per time step, with no state.

    .. math::
        y_t[h d + j, n] = s \sum_{i} q_t[h d + i, n] \sum_{m} k_t[h d + i, m]\, v_t[h d + j, m]

    i.e. :math:`Y_h = s\, Q_h (K_h^\top V_h)` for each head h, where :math:`Q_h, K_h, V_h` are the
    (N, d) token-major views of channels h*d .. h*d+d-1 (d = C / num_heads) at the same step.
    NIR edges carry no port, so the three operands are named: `query`, `key` and `value` are the
    names of the source nodes; the edges from them into this node must exist too, and they are not
    summed like ordinary fan-in.
    """

    num_heads: int  # H; channels are split into H consecutive groups of d = C / H
    scale: float  # s, applied after the two products (0.125 in Spikingformer)
    shape: np.ndarray  # (C, N): channels, tokens of each operand and of the output
    query: str  # name of the node whose output is q
    key: str  # name of the node whose output is k
    value: str  # name of the node whose output is v

    def __post_init__(self):
        self.num_heads = int(self.num_heads)
        self.scale = float(self.scale)
        self.shape = np.asarray(self.shape, dtype=np.int64)
        for field in ("query", "key", "value"):
            name = getattr(self, field)
            if isinstance(name, bytes):
                setattr(self, field, name.decode("utf8"))
            if not isinstance(getattr(self, field), str) or not getattr(self, field):
                raise ValueError(f"SpikingSelfAttention.{field} must be a node name, got {name!r}")
        if self.shape.shape != (2,) or (self.shape <= 0).any():
            raise ValueError(f"SpikingSelfAttention.shape must be (C, N) with positive sizes, got {self.shape.tolist()}")
        if self.num_heads <= 0 or self.shape[0] % self.num_heads:
            raise ValueError(f"SpikingSelfAttention: C = {self.shape[0]} channels do not split into {self.num_heads} heads")
        if len({self.query, self.key, self.value}) != 3:
            raise ValueError(f"SpikingSelfAttention: query, key and value must be three different nodes, got {self.query!r}, {self.key!r}, {self.value!r}")
        self.input_type = {"input": self.shape.copy()}
        self.output_type = {"output": self.shape.copy()}

    @property
    def operands(self) -> tuple[str, str, str]:
        return self.query, self.key, self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": EXTENSION_NAME,
            "num_heads": self.num_heads,
            "scale": self.scale,
            "shape": self.shape,
            "query": self.query,
            "key": self.key,
            "value": self.value,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, kwargs: dict[str, Any]) -> SpikingSelfAttention:
        kwargs = dict(kwargs)
        if kwargs.pop("type") != EXTENSION_NAME:
            raise ValueError(f"not a {EXTENSION_NAME} node: {kwargs}")
        return cls(**kwargs)


def ssa_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, scale: float) -> torch.Tensor:
    """One step of `SpikingSelfAttention` on batched operands [B, C, N] -> [B, C, N]."""
    b, c, n = q.shape
    heads = lambda z: z.reshape(b, num_heads, c // num_heads, n).transpose(-1, -2)  # noqa: E731  [B, H, N, d]
    qh, kh, vh = heads(q), heads(k), heads(v)
    out = (qh @ (kh.transpose(-1, -2) @ vh)) * scale
    return out.transpose(-1, -2).reshape(b, c, n)


def sdsa_nodes(prefix: str, channels: int, num_tokens: int, attention_lif: nir.LIF, dtype=np.float64) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """SDSA as standard NIR: out = v AND LIF(sum over tokens of (q AND k)), broadcast to all tokens.

    `prefix` is the attention module path (``blocks.0.attn``); the q/k/v neurons are
    ``{prefix}.q_lif`` etc. Returns the new nodes and the edges among them and from the q/k/v
    neurons; the edge from ``{prefix}.v_and_attn`` to the output projection is the caller's.
    AND of two binary spike maps is Threshold(1.5) on the sum of the two edges into it.
    """
    c, n = channels, num_tokens
    if tuple(np.asarray(attention_lif.output_type["output"]).tolist()) != (c, 1):
        raise ValueError(f"{prefix}.attn_lif must have shape (C, 1) = ({c}, 1) in SDSA mode")
    # nir 1.0.8 infers a Conv1d's input channels as weight.shape[1], ignoring groups, so a grouped
    # (C -> C, groups=C) conv fails nir.read's type check. A Linear with a stacked weight (C, out, in)
    # is typed (C, in) -> (C, out) by NIR and applies one small matrix per channel: exactly this.
    nodes = {
        f"{prefix}.q_and_k": nir.Threshold(threshold=np.full((c, n), 1.5, dtype=dtype)),
        f"{prefix}.token_sum": nir.Linear(weight=np.ones((c, 1, n), dtype=dtype)),
        f"{prefix}.attn_lif": attention_lif,
        f"{prefix}.broadcast": nir.Linear(weight=np.ones((c, n, 1), dtype=dtype)),
        f"{prefix}.v_and_attn": nir.Threshold(threshold=np.full((c, n), 1.5, dtype=dtype)),
    }
    edges = [
        (f"{prefix}.q_lif", f"{prefix}.q_and_k"),
        (f"{prefix}.k_lif", f"{prefix}.q_and_k"),
        (f"{prefix}.q_and_k", f"{prefix}.token_sum"),
        (f"{prefix}.token_sum", f"{prefix}.attn_lif"),
        (f"{prefix}.attn_lif", f"{prefix}.broadcast"),
        (f"{prefix}.v_lif", f"{prefix}.v_and_attn"),
        (f"{prefix}.broadcast", f"{prefix}.v_and_attn"),
    ]
    return nodes, edges


def ssa_nodes(prefix: str, channels: int, num_tokens: int, num_heads: int, scale: float, attention_lif: nir.LIF) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """SSA as the extension node ``{prefix}.ssa`` followed by ``{prefix}.attn_lif`` (v_th 0.5)."""
    ssa = SpikingSelfAttention(num_heads=num_heads, scale=scale, shape=np.array([channels, num_tokens]), query=f"{prefix}.q_lif", key=f"{prefix}.k_lif", value=f"{prefix}.v_lif")
    nodes = {f"{prefix}.ssa": ssa, f"{prefix}.attn_lif": attention_lif}
    edges = [(name, f"{prefix}.ssa") for name in ssa.operands] + [(f"{prefix}.ssa", f"{prefix}.attn_lif")]
    return nodes, edges
