"""Synaptic operations, encoder MACs and neuron updates counted from recorded spikes and a NIR graph.

One function, `count_operations(graph, spikes)`, whether the spikes came from Norse (`record_spikes`)
or from Lava (`hw_sim.run`): each spike is charged the exact fan-out of the synapse node it enters
(the number of nonzero weights leaving that source neuron, borders, stride, dilation and groups
included), real-valued inputs (the image into the encoder layer) are charged dense MACs, and every
neuron is charged one membrane update per step. Counts are per node and in total, per image.

A synapse whose input is not a neuron but a sum of other synapses' outputs (the head: an Affine over the
residual stream) is linear in the spikes that feed those synapses, so it is charged as synaptic events of
the composed map (each source spike x the number of head outputs it reaches through any nonzero path),
not as dense MACs at every step. Bias adds (one add per output per step of a synapse with a bias) are an
accounting option, off by default (NeuroBench leaves them out; Spikingformer's energy logs count them).

Fan-out is computed by letting torch differentiate the op: for a linear map y = W x with the
nonzero pattern M of W, d(sum y)/dx_j = sum_i M_ij, the fan-out of source j, with torch's own
padding and stride rules, so no index arithmetic is re-derived here.

This module counts events; it does not price them (`hw_sim.analysis.energy_profiles`, and on a chip
`hw_sim.analysis.chip_energy`), and it does not use the papers' firing-rate convention on the torch model
(`hw_sim.analysis.spikformer_energy`, which also holds the NeuroBench-named metrics: NeuroBench hooks the
torch model's layers, so its values are defined there; this count adds pooling, attention and the head).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import nir
import numpy as np
import torch
import torch.nn.functional as F

from hw_sim.analysis.energy_profiles import EnergyProfile
from hw_sim.graph_edges import edge_node

SPIKING_NODES = (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold)
SYNAPSE_NODES = (nir.Conv1d, nir.Conv2d, nir.Affine, nir.Linear, nir.SumPool2d)
PASSTHROUGH_NODES = (nir.Flatten, nir.ir.graph.Identity, nir.Delay)


# ---------------------------------------------------------------- fan-out per source neuron


def _pair(x, n: int = 2) -> tuple:
    if isinstance(x, str):
        return x
    arr = np.atleast_1d(np.asarray(x)).astype(int).tolist()
    return tuple(arr * n if len(arr) == 1 else arr)


def _conv_fanout(weight: np.ndarray, input_shape: tuple[int, ...], stride, padding, dilation, groups: int) -> np.ndarray:
    dims = len(input_shape) - 1
    conv = F.conv1d if dims == 1 else F.conv2d
    mask = torch.as_tensor(np.asarray(weight) != 0, dtype=torch.float64)
    x = torch.zeros((1, *input_shape), dtype=torch.float64, requires_grad=True)
    pad = padding if isinstance(padding, str) else _pair(padding, dims)
    y = conv(x, mask, stride=_pair(stride, dims), padding=pad, dilation=_pair(dilation, dims), groups=int(groups))
    (grad,) = torch.autograd.grad(y.sum(), x)
    return grad[0].numpy()


def synapse_fanout(node: nir.NIRNode, input_shape: tuple[int, ...]) -> np.ndarray:
    """Fan-out of every source neuron of a synapse node (shape = `input_shape`, batchless).

    Conv1d/Conv2d: nonzero weights reached from each input position; SumPool2d: windows covering it;
    Affine/Linear (weight [out, in], applied to the last axis): nonzero weights in the input's column.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        if input_shape[0] != node.weight.shape[1] * node.groups:
            raise ValueError(f"input shape {input_shape} does not match the conv weight {node.weight.shape} (groups {node.groups})")
        return _conv_fanout(node.weight, input_shape, node.stride, node.padding, node.dilation, node.groups)
    if isinstance(node, nir.SumPool2d):
        channels = input_shape[0]
        kernel = _pair(node.kernel_size)
        ones = np.ones((channels, 1, *kernel))
        return _conv_fanout(ones, input_shape, node.stride, node.padding, 1, channels)
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        if input_shape[-1] != weight.shape[-1]:
            raise ValueError(f"input shape {input_shape} does not end in the weight's input width {weight.shape[-1]}")
        # 2-D weight [out, in]: column sums; stacked [C, out, in] (one matrix per channel): per channel
        column = (weight != 0).sum(axis=-2).astype(np.float64)
        return np.broadcast_to(column, input_shape).copy()
    raise TypeError(f"{type(node).__name__} is not a synapse node; known: {[t.__name__ for t in SYNAPSE_NODES]}")


# ---------------------------------------------------------------- results


@dataclass
class NodeOperations:
    """Operations of one NIR node for one image (summed over all steps)."""

    name: str
    node_type: str
    synaptic_ops: float = 0.0  # ACs: binary spikes x fan-out
    macs: float = 0.0  # real-valued inputs x fan-out
    dense_ops: float = 0.0  # every source active at every step
    input_spikes: float = 0.0
    neuron_updates: float = 0.0
    output_spikes: float = 0.0
    bias_adds: float = 0.0  # one add per output per step where the synapse has a bias (counted if asked)
    neurons: int = 0
    encoder: bool = False
    pooling: bool = False
    composed: bool = False  # charged through the synapses that feed it (its input is their summed output)

    @property
    def firing_rate(self) -> float | None:
        return self.output_spikes / self.neuron_updates if self.neuron_updates else None


@dataclass
class OperationCount:
    nodes: dict[str, NodeOperations]
    images: int
    time_steps: int
    options: dict = field(default_factory=dict)

    @property
    def synaptic_ops(self) -> float:
        return sum(n.synaptic_ops for n in self.nodes.values())

    @property
    def macs(self) -> float:
        return sum(n.macs for n in self.nodes.values())

    @property
    def encoder_macs(self) -> float:
        return sum(n.macs for n in self.nodes.values() if n.encoder)

    @property
    def neuron_updates(self) -> float:
        return sum(n.neuron_updates for n in self.nodes.values())

    @property
    def spikes(self) -> float:
        return sum(n.output_spikes for n in self.nodes.values())

    @property
    def bias_adds(self) -> float:
        return sum(n.bias_adds for n in self.nodes.values())

    @property
    def dense_ops(self) -> float:
        return sum(n.dense_ops for n in self.nodes.values())

    @property
    def activation_sparsity(self) -> float:
        """Share of neuron-steps without a spike (NeuroBench's definition, over every neuron node of the graph)."""
        return 1.0 - self.spikes / max(self.neuron_updates, 1.0)

    def energy_joules(self, profile: EnergyProfile, count_neuron_updates: bool = False) -> float:
        """Arithmetic-only energy per image; bias adds are priced as accumulates when they were counted."""
        return profile.energy_joules(self.synaptic_ops + self.bias_adds, self.macs, self.neuron_updates, count_neuron_updates)

    def energy_per_node(self, profile: EnergyProfile, count_neuron_updates: bool = False) -> dict[str, float]:
        return {name: profile.energy_joules(n.synaptic_ops + n.bias_adds, n.macs, n.neuron_updates, count_neuron_updates)
                for name, n in self.nodes.items()}

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "time_steps": self.time_steps,
            "options": self.options,
            "synaptic_ops": self.synaptic_ops,
            "macs": self.macs,
            "encoder_macs": self.encoder_macs,
            "neuron_updates": self.neuron_updates,
            "spikes": self.spikes,
            "bias_adds": self.bias_adds,
            "dense_ops": self.dense_ops,
            "activation_sparsity": self.activation_sparsity,
            "nodes": {k: {**asdict(v), "firing_rate": v.firing_rate} for k, v in self.nodes.items()},
        }

    def table(self) -> str:
        rows = [f"{'node':<34} {'type':<10} {'SOPs':>12} {'MACs':>12} {'updates':>10} {'rate':>6}"]
        for n in self.nodes.values():
            rate = f"{n.firing_rate:.3f}" if n.firing_rate is not None else ""
            rows.append(f"{n.name:<34} {n.node_type:<10} {n.synaptic_ops:>12.4g} {n.macs:>12.4g} {n.neuron_updates:>10.4g} {rate:>6}")
        rows.append(f"{'total (per image)':<45} {self.synaptic_ops:>12.4g} {self.macs:>12.4g} {self.neuron_updates:>10.4g}")
        return "\n".join(rows)


# ---------------------------------------------------------------- the counter


def _predecessors(graph: nir.NIRGraph) -> dict[str, list[tuple[str, str]]]:
    """dst node -> [(src node, dst port name as written)]."""
    preds: dict[str, list[tuple[str, str]]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        preds[edge_node(dst, graph.nodes)].append((edge_node(src, graph.nodes), dst))
    return preds


def _node_shape(node: nir.NIRNode) -> tuple[int, ...] | None:
    out = getattr(node, "output_type", None) or {}
    shape = next(iter(out.values()), None) if out else None
    if shape is None or np.size(shape) == 0:
        return None
    return tuple(int(s) for s in np.atleast_1d(shape))


def _as_time_batch(name: str, x, shape: tuple[int, ...] | None) -> torch.Tensor:
    """Spikes as float64 [T, B, *shape]; accepts [T, B, ...] and batchless [T, ...]."""
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
    if shape is not None and t.dim() == len(shape) + 1:
        t = t.unsqueeze(1)
    if shape is not None and int(np.prod(t.shape[2:])) != int(np.prod(shape)):
        raise ValueError(f"spikes of {name!r} have shape {list(t.shape)}; the graph says [T, B, {', '.join(map(str, shape))}]")
    return t.reshape(t.shape[0], t.shape[1], *shape) if shape is not None else t


class _Signals:
    """The binary signal out of each node, from recorded spikes, derived through stateless nodes if needed."""

    def __init__(self, graph: nir.NIRGraph, spikes: Mapping, preds):
        self.graph, self.preds = graph, preds
        self.cache: dict[str, torch.Tensor] = {}
        self.spikes = spikes

    def is_binary(self, name: str) -> bool:
        node = self.graph.nodes[name]
        if name in self.spikes or isinstance(node, SPIKING_NODES):
            return True
        if isinstance(node, PASSTHROUGH_NODES):
            return all(self.is_binary(src) for src, _ in self.preds[name])
        return False

    def get(self, name: str) -> torch.Tensor:
        if name not in self.cache:
            self.cache[name] = self._compute(name)
        return self.cache[name]

    def _sum_of_inputs(self, name: str) -> torch.Tensor:
        ins = [self._value(src) for src, _ in self.preds[name]]
        if not ins:
            raise ValueError(f"node {name!r} has no inputs to derive its spikes from")
        return sum(ins[1:], ins[0])

    def _value(self, name: str) -> torch.Tensor:
        """Real-valued output of a stateless synapse node on binary input (used to derive Threshold spikes)."""
        node = self.graph.nodes[name]
        if self.is_binary(name):
            return self.get(name)
        if isinstance(node, SYNAPSE_NODES):
            x = self._sum_of_inputs(name)
            t, b = x.shape[:2]
            y = _apply_synapse(node, x.flatten(0, 1))
            return y.reshape(t, b, *y.shape[1:])
        raise KeyError(f"spikes of {name!r} ({type(node).__name__}) are needed and were not recorded")

    def _compute(self, name: str) -> torch.Tensor:
        node = self.graph.nodes[name]
        shape = _node_shape(node)
        if name in self.spikes:
            x = _as_time_batch(name, self.spikes[name], shape)
            if not bool(((x == 0) | (x == 1)).all()):
                raise ValueError(f"spikes of {name!r} are not binary: pass spike trains, not membrane voltages")
            return x
        if isinstance(node, PASSTHROUGH_NODES):
            x = self._sum_of_inputs(name)
            return x.reshape(x.shape[0], x.shape[1], *shape) if shape is not None else x
        if isinstance(node, nir.Threshold):
            x = self._sum_of_inputs(name)
            return (x > torch.as_tensor(np.asarray(node.threshold), dtype=x.dtype)).to(x.dtype)
        raise KeyError(f"no spikes recorded for node {name!r} ({type(node).__name__}); recorded: {sorted(self.spikes)[:8]}...")


def _apply_synapse(node: nir.NIRNode, x: torch.Tensor) -> torch.Tensor:
    if isinstance(node, nir.SumPool2d):
        c = x.shape[1]
        w = torch.ones((c, 1, *_pair(node.kernel_size)), dtype=x.dtype)
        return F.conv2d(x, w, stride=_pair(node.stride), padding=_pair(node.padding), groups=c)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
        dims = 1 if isinstance(node, nir.Conv1d) else 2
        pad = node.padding if isinstance(node.padding, str) else _pair(node.padding, dims)
        return conv(x, torch.as_tensor(node.weight, dtype=x.dtype), torch.as_tensor(node.bias, dtype=x.dtype),
                    stride=_pair(node.stride, dims), padding=pad, dilation=_pair(node.dilation, dims), groups=node.groups)
    weight = torch.as_tensor(node.weight, dtype=x.dtype)
    y = x @ weight.T if weight.dim() == 2 else (weight @ x.unsqueeze(-1)).squeeze(-1)  # stacked: y[c] = W[c] x[c]
    return y + torch.as_tensor(node.bias, dtype=x.dtype) if isinstance(node, nir.Affine) else y


def _mask_map(node: nir.NIRNode, x: torch.Tensor) -> torch.Tensor:
    """The synapse with every nonzero weight set to 1 and no bias: which outputs each input reaches."""
    if isinstance(node, nir.SumPool2d):
        return _apply_synapse(node, x)
    masked = {"weight": (np.asarray(node.weight) != 0).astype(np.float64)}
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        shape = dict(input_shape=node.input_shape, stride=node.stride, padding=node.padding, dilation=node.dilation,
                     groups=node.groups, bias=np.zeros(node.weight.shape[0]))
        return _apply_synapse(type(node)(**masked, **shape), x)
    return _apply_synapse(nir.Linear(**masked), x)


def composite_fanout(node: nir.NIRNode, upstream: nir.NIRNode, source_shape: tuple[int, ...]) -> np.ndarray:
    """Fan-out of each source neuron through `upstream` then `node` (an Affine/Linear on the flattened output).

    Source j reaches output a when some nonzero path j -> i -> a exists. Rows of `node` that share one
    nonzero pattern share one answer, so a dense readout (every row alike) costs one backward pass.
    """
    weight = np.asarray(node.weight) != 0
    if weight.ndim != 2:
        raise ValueError(f"composition needs a 2-D readout weight, got {weight.shape}")
    patterns, counts = np.unique(weight, axis=0, return_counts=True)
    fanout = np.zeros(source_shape)
    x = torch.zeros((1, *source_shape), dtype=torch.float64, requires_grad=True)
    out = _mask_map(upstream, x).reshape(-1)
    if out.numel() != weight.shape[1]:
        raise ValueError(f"the readout reads {weight.shape[1]} values, its upstream synapse gives {out.numel()}")
    for pattern, count in zip(patterns, counts):
        (grad,) = torch.autograd.grad(out @ torch.as_tensor(pattern, dtype=torch.float64), x, retain_graph=True)
        fanout += count * (grad[0].numpy() > 0)
    return fanout


def _bias_adds(node: nir.NIRNode) -> float:
    """Adds per step of a synapse's bias: each output element whose bias is nonzero."""
    bias = getattr(node, "bias", None)
    shape = _node_shape(node)
    if bias is None or shape is None:
        return 0.0
    bias = np.asarray(bias)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return float(np.count_nonzero(bias) * int(np.prod(shape[1:])))
    return float(np.count_nonzero(np.broadcast_to(bias, shape)))


def _source_shape(graph: nir.NIRGraph, name: str, signals: _Signals) -> tuple[int, ...]:
    shape = _node_shape(graph.nodes[name])
    if shape is None and signals.is_binary(name):
        shape = tuple(signals.get(name).shape[2:])
    if shape is None:
        raise ValueError(f"node {name!r} has no output shape in the graph; the fan-out of what it feeds cannot be computed")
    return shape


ATTENTION_RULES = ("events", "ssa", "dense")


def count_ssa_node(node, signal: Callable[[str], torch.Tensor], rule: str) -> tuple[float, float, float]:
    """(MACs, ACs, dense ops) of one `SpikingSelfAttention` node (export/SCHEMA.md), summed over the batch.

    events: exact, per step and head with K^T V first: every active (k[i, n], v[j, n]) pair is one AC into
            K^T V, then every active q[i, n] adds one row of d values: sum_n |k_n||v_n| + d * sum_n |q_n|;
    ssa:    Spikformer's rate formula T*H*N*d^2*(min(fr_k, fr_v) + fr_q) ACs;
    dense:  2*T*H*N*d^2 ACs, every operand active (K^T V first, so linear in N).
    """
    c, n = (int(s) for s in node.shape)
    h = int(node.num_heads)
    d = c // h
    q, k, v = (signal(name) for name in node.operands)
    t, b = q.shape[:2]
    heads = lambda z: z.reshape(t, b, h, d, n)  # noqa: E731
    qh, kh, vh = heads(q), heads(k), heads(v)
    dense = 2.0 * t * b * h * n * d * d
    if rule == "events":
        pairs = (kh.sum(dim=3) * vh.sum(dim=3)).sum()  # per token n: |k_n| x |v_n| within the head
        return 0.0, float(pairs + d * qh.sum()), dense
    if rule == "ssa":
        fr = lambda z: float(z.mean())  # noqa: E731
        return 0.0, t * b * h * n * d * d * (min(fr(k), fr(v)) + fr(q)), dense
    if rule == "dense":
        return 0.0, dense, dense
    raise ValueError(f"attention rule must be one of {ATTENTION_RULES}, not {rule!r}")


# extension node class name -> counter(node, signal getter, rule) -> (MACs, ACs, dense ops)
ATTENTION_COUNTERS: dict[str, Callable] = {"SpikingSelfAttention": count_ssa_node}


def _composed_sources(src: str, graph: nir.NIRGraph, preds, signals: _Signals) -> list[tuple[str, str]] | None:
    """(synapse, its binary source) pairs whose summed outputs make the real-valued signal `src`, or None."""
    node = graph.nodes[src]
    if isinstance(node, PASSTHROUGH_NODES):
        pairs = [_composed_sources(p, graph, preds, signals) for p, _ in preds[src]]
        return None if any(p is None for p in pairs) or not pairs else [x for p in pairs for x in p]
    if isinstance(node, SYNAPSE_NODES) and preds[src] and all(signals.is_binary(p) for p, _ in preds[src]):
        return [(src, p) for p, _ in preds[src]]
    return None


def _setup(graph: nir.NIRGraph, spikes: Mapping[str, object]):
    unknown = sorted(set(spikes) - set(graph.nodes))
    if unknown or not spikes:
        raise KeyError(f"spikes must be keyed by node names of the graph; unknown: {unknown[:8]}, nodes: {list(graph.nodes)[:8]}...")
    preds = _predecessors(graph)
    signals = _Signals(graph, spikes, preds)
    first = signals.get(next(n for n in graph.nodes if n in spikes))
    return preds, signals, int(first.shape[0]), int(first.shape[1])


def spike_counts(graph: nir.NIRGraph, spikes: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Spikes per neuron of every spiking node, summed over the steps, mean over the images (NIR shape).

    The same signals `count_operations` counts from (Thresholds of stateless nodes derived), so chip-level
    message and routing counts follow the same rules for every spike source.
    """
    _preds, signals, _steps, batch = _setup(graph, spikes)
    return {name: signals.get(name).sum(dim=(0, 1)).numpy() / batch
            for name, node in graph.nodes.items() if isinstance(node, SPIKING_NODES)}


def count_operations(
    graph: nir.NIRGraph,
    spikes: Mapping[str, object],
    time_steps: int | None = None,
    encoder_per_step: bool = True,
    attention: str = "events",
    count_pooling: bool = True,
    count_bias: bool = False,
) -> OperationCount:
    """Count operations per node and in total, per image, from spikes {node name: [T, B, ...] or [T, ...]}.

    Every spiking node of the graph must have recorded spikes, except Thresholds fed by stateless
    nodes (the max-pool and SDSA lowerings), which are derived. Real-valued inputs (the image) cost dense MACs
    at each of T steps (`encoder_per_step`) or once. A synapse fed by other synapses' summed outputs (the
    head on the residual stream) is charged the composed events (`composite_fanout`). `attention` is the rule
    for the project's attention extension node (`count_ssa_node`: events, ssa or dense); `count_pooling=False`
    leaves the pooling synapses (SumPool2d) out of the totals; `count_bias=True` adds one add per output per
    step for every synapse with a nonzero bias (priced as an accumulate).
    """
    if attention not in ATTENTION_RULES:
        raise ValueError(f"attention rule must be one of {ATTENTION_RULES}, not {attention!r}")
    preds, signals, steps, batch = _setup(graph, spikes)
    if time_steps is not None and time_steps != steps:
        raise ValueError(f"spikes have {steps} steps, time_steps says {time_steps}")
    result: dict[str, NodeOperations] = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if isinstance(node, SYNAPSE_NODES):
            ops = NodeOperations(name, kind, pooling=isinstance(node, nir.SumPool2d))
            for src, _ in preds[name]:
                fanout = torch.as_tensor(synapse_fanout(node, _source_shape(graph, src, signals)))
                dense = float(fanout.sum()) * steps * batch
                composed = None if signals.is_binary(src) else _composed_sources(src, graph, preds, signals)
                if signals.is_binary(src):
                    x = signals.get(src).reshape(steps, batch, *fanout.shape)
                    ops.synaptic_ops += float((x * fanout).sum())
                    ops.input_spikes += float(x.sum())
                    ops.dense_ops += dense
                elif composed:
                    ops.composed = True
                    for upstream, source in composed:
                        shape = _source_shape(graph, source, signals)
                        fan = torch.as_tensor(composite_fanout(node, graph.nodes[upstream], shape))
                        x = signals.get(source).reshape(steps, batch, *shape)
                        ops.synaptic_ops += float((x * fan).sum())
                        ops.input_spikes += float(x.sum())
                        ops.dense_ops += float(fan.sum()) * steps * batch
                else:
                    ops.encoder = ops.encoder or isinstance(graph.nodes[src], nir.Input)
                    scale = 1.0 if encoder_per_step or not ops.encoder else 1.0 / steps
                    ops.macs += dense * scale
                    ops.dense_ops += dense * scale
            if ops.pooling and not count_pooling:
                ops.synaptic_ops = ops.dense_ops = 0.0
            if count_bias:
                ops.bias_adds = _bias_adds(node) * steps * batch
            result[name] = ops
        elif isinstance(node, SPIKING_NODES):
            shape = _node_shape(node) or tuple(signals.get(name).shape[2:])
            neurons = int(np.prod(shape))
            out = signals.get(name)
            if isinstance(node, nir.Threshold) and name not in spikes and not count_pooling:
                continue
            result[name] = NodeOperations(name, kind, neurons=neurons, neuron_updates=float(neurons * steps * batch),
                                          output_spikes=float(out.sum()))
        elif kind in ATTENTION_COUNTERS:
            macs, acs, dense = ATTENTION_COUNTERS[kind](node, signals.get, attention)
            result[name] = NodeOperations(name, kind, synaptic_ops=acs, macs=macs, dense_ops=dense)
    for ops in result.values():
        for f in ("synaptic_ops", "macs", "dense_ops", "input_spikes", "neuron_updates", "output_spikes", "bias_adds"):
            setattr(ops, f, getattr(ops, f) / batch)
    options = {"encoder_per_step": encoder_per_step, "attention": attention, "count_pooling": count_pooling,
               "count_bias": count_bias, "head": "composed synaptic events (its input is the residual stream)"}
    return OperationCount(result, images=batch, time_steps=steps, options=options)
