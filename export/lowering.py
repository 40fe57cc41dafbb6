"""Lowering a Spikingformer student (Norse) to a NIR graph, node by node, with exact rewrites.

- BatchNorm folds into the conv before it (`fold_batchnorm`), using the running statistics.
- A Norse LIF layer becomes a NIR LIF with per-neuron arrays: tau = dt / decay, r = 1 (forward Euler);
  its firing rule goes into the node's metadata (``firing_rule``: ">=" or ">"; NIR's own LIF fires on ">").
- Max-pooling of spikes is OR: SumPool2d (all ones) then Threshold(0.5).
- A residual sum is fan-in: several edges into the consuming node, listed in the model's summation order.
- The first conv + BN sees the real-valued image: it is the input encoder (metadata ``encoder_node``).
- The head (mean over tokens and T, then Linear) is an Affine on the flattened residual stream with
  the weights divided by N; the reader averages the output node over the T steps.

Node names are module paths (see export/SCHEMA.md). The model is walked by its known structure, not
traced; every module it holds must be consumed by the walk, so anything unknown (an inserted GELU, a
replaced neuron) raises `UnsupportedModuleError` naming its path and type. This module builds the
in-memory graph only; writing is `export.graph_io`, running is `export.executor`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from export.attention import EXTENSION_NAME, sdsa_nodes, ssa_nodes
from snnpar.models.batchnorm import fold_batchnorm as fold_batchnorm_torch
from snnpar.models.neurons import NEURON_BACKENDS, LIFConfig
from snnpar.models.spikingformer import Spikingformer

FORMAT = "snnpar-nir-v1"
INPUT_ENCODING = "direct: the same normalised image at every step"
READOUT = "logits = mean over the T steps of the output node"
NODE_NAMES = ("node name = module path of the Norse model; a module lowered to several nodes keeps its path on the node "
              "producing its output and names helper nodes <path>.<role>; BatchNorm is folded into the conv before it")


class UnsupportedModuleError(TypeError):
    """A module of the model has no NIR lowering here; the message names its path and type."""


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Conv weight/bias followed by BN (running statistics) -> one weight and bias, in float64
    (`snnpar.models.batchnorm.fold_batchnorm`, the fold Loihi 2 QAT trains through)."""
    if bn.running_mean is None or bn.running_var is None:
        raise UnsupportedModuleError(f"BatchNorm {bn} tracks no running statistics, so it cannot be folded into a fixed conv")
    with torch.no_grad():
        w, b = fold_batchnorm_torch(weight, bias, bn, torch.float64)
    return w.cpu().numpy(), b.cpu().numpy()


def lif_to_nir(config: LIFConfig, shape: tuple[int, ...], dtype=np.float64) -> nir.LIF:
    """Norse LIF-box -> NIR LIF with per-neuron arrays (scalars give shape () and break NIR's type checks).

    The firing rule travels as node metadata ``firing_rule`` (export/SCHEMA.md); the reset's gradient and
    the surrogate only matter for training and are not exported.
    """
    full = lambda value: np.full(shape, value, dtype=dtype)  # noqa: E731
    return nir.LIF(tau=full(config.dt / config.decay), r=full(1.0), v_leak=full(config.v_leak), v_threshold=full(config.v_th),
                   v_reset=full(config.v_reset), metadata={"firing_rule": config.firing_rule})


def pool_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class _GraphBuilder:
    """Collects nodes and edges, and which module paths the lowering consumed."""

    def __init__(self, model: nn.Module, dtype):
        self.modules = dict(model.named_modules())
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.consumed: set[str] = set()
        self.dt: set[float] = set()
        self.dtype = dtype

    def module(self, path: str, expected: type | tuple[type, ...]) -> nn.Module:
        module = self.modules.get(path)
        if module is None:
            raise UnsupportedModuleError(f"the model has no module {path!r}; export expects the Spikingformer layout (export/SCHEMA.md)")
        if not isinstance(module, expected):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise UnsupportedModuleError(f"cannot export module {path!r} of type {type(module).__name__}: expected {names} there")
        self.consumed.add(path)
        return module

    def add(self, name: str, node: nir.NIRNode, inputs: Iterable[str] = ()) -> str:
        if name in self.nodes:
            raise ValueError(f"duplicate NIR node name {name!r}")
        self.nodes[name] = node
        self.edges.extend((src, name) for src in inputs)
        return name

    def lif_node(self, path: str, shape: tuple[int, ...]) -> nir.LIF:
        neuron = self.module(path, tuple(NEURON_BACKENDS.values()))
        config = getattr(neuron, "config", None)
        if not isinstance(config, LIFConfig):
            raise UnsupportedModuleError(f"cannot export neuron {path!r} of type {type(neuron).__name__}: it carries no LIFConfig")
        self.dt.add(config.dt)
        return lif_to_nir(config, shape, self.dtype)

    def lif(self, path: str, shape: tuple[int, ...], inputs: Iterable[str]) -> str:
        return self.add(path, self.lif_node(path, shape), inputs)

    def conv2d_bn(self, conv_path: str, bn_path: str, input_hw: tuple[int, int], inputs: Iterable[str]) -> tuple[str, tuple[int, ...]]:
        conv = self.module(conv_path, nn.Conv2d)
        bn = self.module(bn_path, nn.BatchNorm2d)
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise UnsupportedModuleError(f"cannot export {conv_path!r}: padding {conv.padding!r} mode {conv.padding_mode!r} (only numeric zero padding)")
        w, b = fold_batchnorm(conv.weight, conv.bias, bn)
        node = nir.Conv2d(input_shape=tuple(input_hw), weight=w.astype(self.dtype), stride=tuple(conv.stride), padding=tuple(conv.padding),
                          dilation=tuple(conv.dilation), groups=conv.groups, bias=b.astype(self.dtype))
        self.add(conv_path, node, inputs)
        return conv_path, tuple(int(s) for s in node.output_type["output"])

    def conv1d_bn(self, path: str, num_tokens: int, inputs: Iterable[str]) -> str:
        seq = self.module(path, nn.Sequential)
        children = list(seq.named_children())
        for name, child in children[2:]:
            raise UnsupportedModuleError(f"cannot export module {path + '.' + name!r} of type {type(child).__name__}: a ConvBN1d holds exactly Conv1d, BatchNorm1d")
        conv = self.module(f"{path}.0", nn.Conv1d)
        bn = self.module(f"{path}.1", nn.BatchNorm1d)
        if conv.kernel_size != (1,) or conv.stride != (1,) or conv.groups != 1:
            raise UnsupportedModuleError(f"cannot export {path}.0: expected a 1x1 token-wise Conv1d, got {conv}")
        w, b = fold_batchnorm(conv.weight, conv.bias, bn)
        node = nir.Conv1d(input_shape=num_tokens, weight=w.astype(self.dtype), stride=1, padding=0, dilation=1, groups=1, bias=b.astype(self.dtype))
        return self.add(path, node, inputs)

    def spike_maxpool(self, path: str, shape: tuple[int, int, int], inputs: Iterable[str]) -> tuple[str, tuple[int, int, int]]:
        pool = self.module(path, nn.MaxPool2d)
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
        k, s, p, d = pair(pool.kernel_size), pair(pool.stride or pool.kernel_size), pair(pool.padding), pair(pool.dilation)
        if d != (1, 1) or pool.ceil_mode:
            raise UnsupportedModuleError(f"cannot export {path!r}: dilation/ceil_mode max-pooling has no SumPool2d equivalent")
        c, h, w = shape
        out = (c, pool_output_size(h, k[0], s[0], p[0]), pool_output_size(w, k[1], s[1], p[1]))
        # Over binary spikes max = OR = (sum > 0.5); zero padding never wins a max of {0, 1} values.
        self.add(f"{path}.sum", nir.SumPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p)), inputs)
        self.add(path, nir.Threshold(threshold=np.full(out, 0.5, dtype=self.dtype)), [f"{path}.sum"])
        return path, out


def lower_spikingformer(model: Spikingformer, *, dtype=np.float64, metadata: dict[str, Any] | None = None) -> nir.NIRGraph:
    """The student as an in-memory NIR graph (nodes named by module path; layout in export/SCHEMA.md)."""
    if not isinstance(model, Spikingformer):
        raise UnsupportedModuleError(f"cannot export a model of type {type(model).__name__}: export_nir lowers Spikingformer students only")
    cfg = model.config
    g = _GraphBuilder(model, dtype)
    for path in ("", "tokenizer", "blocks"):
        g.module(path, nn.Module)
    h, w = cfg.image_size
    d, n = cfg.embed_dim, cfg.num_tokens

    g.add("input", nir.Input(input_type=np.array([3, h, w])))
    last, shape = g.conv2d_bn("tokenizer.proj_conv", "tokenizer.proj_bn", (h, w), ["input"])
    for i in range(1, 5):
        spikes = g.lif(f"tokenizer.proj{i}_lif", shape, [last])
        pooled, pooled_shape = g.spike_maxpool(f"tokenizer.maxpool{i}", shape, [spikes])
        last, shape = g.conv2d_bn(f"tokenizer.proj{i}_conv", f"tokenizer.proj{i}_bn", pooled_shape[1:], [pooled])
    if shape != (d, *token_grid(cfg)):
        raise ValueError(f"tokenizer output {shape} does not match embed_dim {d} and {n} tokens")
    g.add("tokenizer.flatten", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=1, end_dim=-1), [last])

    residual = ["tokenizer.flatten"]  # the residual stream is the sum of these nodes' outputs, in this order
    for j in range(cfg.depth):
        block = f"blocks.{j}"
        for path in (block, f"{block}.attn", f"{block}.mlp"):
            g.module(path, nn.Module)
        attn = f"{block}.attn"
        s = g.lif(f"{attn}.proj_lif", (d, n), residual)
        for name in ("q", "k", "v"):
            g.lif(f"{attn}.{name}_lif", (d, n), [g.conv1d_bn(f"{attn}.{name}", n, [s])])
        attention_module = g.modules[attn]
        if getattr(attention_module, "mode", cfg.attention) == "ssa":
            lif = g.lif_node(f"{attn}.attn_lif", (d, n))
            nodes, edges = ssa_nodes(attn, d, n, attention_module.num_heads, attention_module.scale, lif)
            gated = f"{attn}.attn_lif"
        else:
            lif = g.lif_node(f"{attn}.attn_lif", (d, 1))
            nodes, edges = sdsa_nodes(attn, d, n, lif, dtype)
            gated = f"{attn}.v_and_attn"
        g.nodes.update(nodes)
        g.edges.extend(edges)
        attn_out = g.conv1d_bn(f"{attn}.proj", n, [gated])
        residual = residual + [attn_out]
        mlp = f"{block}.mlp"
        hidden = g.lif(f"{mlp}.mlp1_lif", (d, n), residual)
        hidden = g.conv1d_bn(f"{mlp}.mlp1", n, [hidden])
        hidden = g.lif(f"{mlp}.mlp2_lif", (d * cfg.mlp_ratio, n), [hidden])
        residual = residual + [g.conv1d_bn(f"{mlp}.mlp2", n, [hidden])]

    head = g.module("head", nn.Linear)
    g.add("head.flatten", nir.Flatten(input_type={"input": np.array([d, n])}, start_dim=0, end_dim=-1), residual)
    weight = head.weight.detach().to(torch.float64).cpu().numpy()
    bias = head.bias.detach().to(torch.float64).cpu().numpy() if head.bias is not None else np.zeros(weight.shape[0])
    # Flattened index c * N + n; each token's share of the mean over tokens is W / N.
    affine_weight = np.repeat(weight / n, n, axis=1)
    g.add("head", nir.Affine(weight=affine_weight.astype(dtype), bias=bias.astype(dtype)), ["head.flatten"])
    g.add("output", nir.Output(output_type=np.array([weight.shape[0]])), ["head"])

    _check_all_consumed(g)
    if len(g.dt) != 1:
        raise ValueError(f"all neurons must share one dt to export one NIR time step, found {sorted(g.dt)}")
    graph_metadata = normalize_metadata({
        "format": FORMAT,
        "dt": g.dt.pop(),
        "time_steps": cfg.time_steps,
        "input_node": "input",
        "input_shape": [3, h, w],
        "input_encoding": INPUT_ENCODING,
        "attention": cfg.attention,
        "embed_dim": d,
        "depth": cfg.depth,
        "num_heads": cfg.num_heads,
        "num_tokens": n,
        "num_attributes": int(weight.shape[0]),
        "encoder_node": "tokenizer.proj_conv",
        "head_node": "head",
        "output_node": "output",
        "readout": READOUT,
        "node_names": NODE_NAMES,
        "extensions": [EXTENSION_NAME] if cfg.attention == "ssa" else [],
        **(metadata or {}),
    })
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=graph_metadata, type_check=True)


def token_grid(cfg) -> tuple[int, int]:
    """The (h, w) grid of tokens after the tokenizer's four stride-2 pools: H/16 x W/16."""
    return cfg.image_size[0] // 16, cfg.image_size[1] // 16


def _check_all_consumed(g: _GraphBuilder) -> None:
    for path, module in g.modules.items():
        if path not in g.consumed:
            raise UnsupportedModuleError(
                f"cannot export module {path!r} of type {type(module).__name__}: it has no NIR lowering "
                "(export knows the Spikingformer layers: conv+BN, LIF, spike max-pool, 1x1 ConvBN1d, attention, Linear head)")


def normalize_metadata(value: Any) -> Any:
    """Metadata in the plain form it has after an HDF5 round trip: dicts, lists, str, int, float, bool."""
    if isinstance(value, dict):
        return {str(k): normalize_metadata(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray):
        return [normalize_metadata(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [normalize_metadata(v) for v in value]
    if isinstance(value, np.generic):
        return normalize_metadata(value.item())
    if value is None:
        raise ValueError("metadata values cannot be None (HDF5 has no null); leave the key out instead")
    if isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(f"metadata value {value!r} of type {type(value).__name__} cannot be stored; use str, numbers, lists or dicts")
