"""A reference executor for NIR graphs: step by step, in torch float64, with NIR's semantics.

It is the independent check that an exported graph means what the Norse model does, and a plain
interpreter for other NIR files. Each time step evaluates every node once, in topological order; the
input of a node is the sum of its incoming edges (in edge-list order), except the extension node
`SpikingSelfAttention`, which takes its three operands by name. Neurons integrate with forward
Euler, v <- v + (dt / tau) (v_leak - v + r I), and fire on v > v_threshold, or on v >= v_threshold where
the node's metadata says ``firing_rule: ">="`` (export/SCHEMA.md). Each node type has one small `prepare` function in
`NODE_TYPES` that returns its step function. Not supported: recurrent edges (cycles), nested graphs,
Delay. `nirtorch_node_map` exposes the same step functions as modules for `nirtorch.nir_to_torch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import nir
import numpy as np
import torch
import torch.nn.functional as F

from export.attention import SpikingSelfAttention, ssa_step

# A step function maps (input [B, ...], state) -> (output [B, ...], new state); state starts as None.
Step = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]
DTYPE = torch.float64


def _t(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), dtype=DTYPE)


def _pair(value) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    return (int(arr[0]), int(arr[-1]))


def _padding(value):
    return value if isinstance(value, str) else tuple(int(v) for v in np.asarray(value).reshape(-1))


def firing_rule(node) -> str:
    """'>' (NIR's LIF) unless the node's metadata says ``firing_rule: ">="`` (the reference's v >= v_threshold)."""
    rule = (getattr(node, "metadata", None) or {}).get("firing_rule", ">")
    rule = rule.decode("utf8") if isinstance(rule, bytes) else rule  # as plain nir.read returns strings
    if rule not in (">", ">="):
        raise ValueError(f"node metadata firing_rule must be '>' or '>=', not {rule!r}")
    return rule


def lif_step(x: torch.Tensor, v: torch.Tensor | None, alpha, r, v_leak, v_threshold, v_reset,
             rule: str = ">") -> tuple[torch.Tensor, torch.Tensor]:
    """NIR LIF, forward Euler: tau dv/dt = (v_leak - v) + r I; spike v > v_threshold (or >=); then v = v_reset."""
    v = torch.zeros_like(x) if v is None else v
    v = v + alpha * (v_leak - v + r * x)
    z = (v >= v_threshold if rule == ">=" else v > v_threshold).to(x.dtype)
    return z, torch.where(z > 0, v_reset, v)


def _prepare_lif(node: nir.LIF, dt: float | None) -> Step:
    alpha = _need_dt(dt, "LIF") / _t(node.tau)
    params = (_t(node.r), _t(node.v_leak), _t(node.v_threshold), _t(node.v_reset), firing_rule(node))
    return lambda x, v: lif_step(x, v, alpha, *params)


def _prepare_li(node: nir.LI, dt: float | None) -> Step:
    alpha, r, v_leak = _need_dt(dt, "LI") / _t(node.tau), _t(node.r), _t(node.v_leak)

    def step(x, v):
        v = torch.zeros_like(x) if v is None else v
        v = v + alpha * (v_leak - v + r * x)
        return v, v
    return step


def _prepare_if(node: nir.IF, dt: float | None) -> Step:
    """NIR IF: dv/dt = r I, i.e. v <- v + dt r I (pass dt = 1 for graphs written in discrete steps)."""
    scale, th, reset = _need_dt(dt, "IF") * _t(node.r), _t(node.v_threshold), _t(node.v_reset)
    rule = firing_rule(node)

    def step(x, v):
        v = (torch.zeros_like(x) if v is None else v) + scale * x
        z = (v >= th if rule == ">=" else v > th).to(x.dtype)
        return z, torch.where(z > 0, reset, v)
    return step


def _prepare_i(node: nir.I, dt: float | None) -> Step:
    scale = _need_dt(dt, "I") * _t(node.r)

    def step(x, v):
        v = (torch.zeros_like(x) if v is None else v) + scale * x
        return v, v
    return step


def _prepare_cuba_lif(node: nir.CubaLIF, dt: float | None) -> Step:
    dt = _need_dt(dt, "CubaLIF")
    a_syn, a_mem = dt / _t(node.tau_syn), dt / _t(node.tau_mem)
    w_in, r, v_leak, th, reset = _t(node.w_in), _t(node.r), _t(node.v_leak), _t(node.v_threshold), _t(node.v_reset)
    rule = firing_rule(node)

    def step(x, state):
        i, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i = i + a_syn * (w_in * x - i)
        v = v + a_mem * (v_leak - v + r * i)
        z = (v >= th if rule == ">=" else v > th).to(x.dtype)
        return z, (i, torch.where(z > 0, reset, v))
    return step


def _prepare_cuba_li(node: nir.CubaLI, dt: float | None) -> Step:
    dt = _need_dt(dt, "CubaLI")
    a_syn, a_mem = dt / _t(node.tau_syn), dt / _t(node.tau_mem)
    w_in, r, v_leak = _t(node.w_in), _t(node.r), _t(node.v_leak)

    def step(x, state):
        i, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i = i + a_syn * (w_in * x - i)
        v = v + a_mem * (v_leak - v + r * i)
        return v, (i, v)
    return step


def _stateless(fn: Callable[[torch.Tensor], torch.Tensor]) -> Step:
    return lambda x, state: (fn(x), None)


def _prepare_affine(node: nir.Affine, dt) -> Step:
    """y = W x + b; a weight with leading dims (C, out, in) applies one matrix per leading index (NIR's typing)."""
    w, b = _t(node.weight), _t(node.bias)
    return _stateless(lambda x: (w @ x.unsqueeze(-1)).squeeze(-1) + b)


def _prepare_linear(node: nir.Linear, dt) -> Step:
    w = _t(node.weight)
    return _stateless(lambda x: (w @ x.unsqueeze(-1)).squeeze(-1))


def _prepare_scale(node: nir.Scale, dt) -> Step:
    s = _t(node.scale)
    return _stateless(lambda x: x * s)


def _prepare_conv1d(node: nir.Conv1d, dt) -> Step:
    w, b = _t(node.weight), _t(node.bias)
    kw = dict(stride=int(np.asarray(node.stride).reshape(-1)[0]), dilation=int(np.asarray(node.dilation).reshape(-1)[0]), groups=int(node.groups))
    padding = node.padding if isinstance(node.padding, str) else int(np.asarray(node.padding).reshape(-1)[0])
    return _stateless(lambda x: F.conv1d(x, w, b, padding=padding, **kw))


def _prepare_conv2d(node: nir.Conv2d, dt) -> Step:
    w, b = _t(node.weight), _t(node.bias)
    kw = dict(stride=_pair(node.stride), dilation=_pair(node.dilation), groups=int(node.groups), padding=_padding(node.padding))
    return _stateless(lambda x: F.conv2d(x, w, b, **kw))


def _prepare_sumpool2d(node: nir.SumPool2d, dt) -> Step:
    kw = dict(kernel_size=_pair(node.kernel_size), stride=_pair(node.stride), padding=_pair(node.padding))
    # divisor 1 turns the average into a sum over the window, zero padding included
    return _stateless(lambda x: F.avg_pool2d(x, count_include_pad=True, divisor_override=1, **kw))


def _prepare_avgpool2d(node: nir.AvgPool2d, dt) -> Step:
    kw = dict(kernel_size=_pair(node.kernel_size), stride=_pair(node.stride), padding=_pair(node.padding))
    return _stateless(lambda x: F.avg_pool2d(x, count_include_pad=True, **kw))


def _prepare_flatten(node: nir.Flatten, dt) -> Step:
    """NIR's start/end dims index the batchless shape; here dim 0 is the batch, so shift by one."""
    start = int(node.start_dim) + 1 if int(node.start_dim) >= 0 else int(node.start_dim)
    end = int(node.end_dim) + 1 if int(node.end_dim) >= 0 else int(node.end_dim)
    return _stateless(lambda x: x.flatten(start, end))


def _prepare_threshold(node: nir.Threshold, dt) -> Step:
    th = _t(node.threshold)
    return _stateless(lambda x: (x > th).to(x.dtype))


def _prepare_identity(node, dt) -> Step:
    return _stateless(lambda x: x)


NODE_TYPES: dict[type, Callable[[nir.NIRNode, float | None], Step]] = {
    nir.Input: _prepare_identity,
    nir.Output: _prepare_identity,
    nir.Affine: _prepare_affine,
    nir.Linear: _prepare_linear,
    nir.Scale: _prepare_scale,
    nir.Conv1d: _prepare_conv1d,
    nir.Conv2d: _prepare_conv2d,
    nir.SumPool2d: _prepare_sumpool2d,
    nir.AvgPool2d: _prepare_avgpool2d,
    nir.Flatten: _prepare_flatten,
    nir.Threshold: _prepare_threshold,
    nir.LIF: _prepare_lif,
    nir.LI: _prepare_li,
    nir.IF: _prepare_if,
    nir.I: _prepare_i,
    nir.CubaLIF: _prepare_cuba_lif,
    nir.CubaLI: _prepare_cuba_li,
}


def _need_dt(dt: float | None, what: str) -> float:
    if dt is None:
        raise ValueError(f"a {what} node needs dt: pass run_graph(..., dt=...) or store 'dt' in the graph metadata")
    return float(dt)


def topological_order(graph: nir.NIRGraph) -> list[str]:
    """Node names so that every edge goes forward; ties keep the graph's node order. Cycles are an error."""
    incoming = {name: 0 for name in graph.nodes}
    children: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        incoming[dst] += 1
        children[src].append(dst)
    position = {name: i for i, name in enumerate(graph.nodes)}
    ready = sorted((n for n, k in incoming.items() if k == 0), key=position.get)
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for child in children[name]:
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
        ready.sort(key=position.get)
    if len(order) != len(graph.nodes):
        stuck = sorted(set(graph.nodes) - set(order))
        raise ValueError(f"the graph has a cycle through {stuck[:5]}; this executor runs feed-forward graphs only")
    return order


def run_graph(graph: nir.NIRGraph | str | Path, inputs: torch.Tensor | np.ndarray, T: int | None = None, dt: float | None = None,
              keep: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Run `graph` for T steps; returns {node name: outputs [T, B, ...]} (float64) for every node (or those in `keep`).

    `inputs` is either [B, *input_shape] (direct encoding: the same input at every step; T from the
    argument or the metadata ``time_steps``) or [T, B, *input_shape] (one input per step).
    dt defaults to the metadata ``dt``.
    """
    if not isinstance(graph, nir.NIRGraph):
        from export.graph_io import read_graph

        graph = read_graph(graph)
    meta = graph.metadata or {}
    dt = dt if dt is not None else meta.get("dt")
    inputs_by_node = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs_by_node) != 1:
        raise ValueError(f"run_graph needs exactly one Input node, the graph has {inputs_by_node}")
    input_name = inputs_by_node[0]
    input_shape = tuple(int(s) for s in np.asarray(graph.nodes[input_name].input_type["input"]).reshape(-1))
    x = torch.as_tensor(np.asarray(inputs) if isinstance(inputs, np.ndarray) else inputs).to(DTYPE)
    if tuple(x.shape[1:]) == input_shape:
        steps = T if T is not None else meta.get("time_steps")
        if steps is None:
            raise ValueError("inputs [B, ...] are repeated over time (direct encoding): pass T or store 'time_steps' in the metadata")
        x = x.unsqueeze(0).expand(int(steps), *x.shape)
    elif tuple(x.shape[2:]) != input_shape:
        raise ValueError(f"inputs of shape {list(x.shape)} fit neither [B, {input_shape}] nor [T, B, {input_shape}] of node {input_name!r}")
    elif T is not None and T != x.shape[0]:
        raise ValueError(f"T = {T} but the input sequence has {x.shape[0]} steps")

    order = topological_order(graph)
    sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        sources[dst].append(src)
    steps_by_node = {name: _prepare(name, graph.nodes[name], dt, sources[name]) for name in order}
    keep = set(graph.nodes if keep is None else keep)
    state: dict[str, object] = {name: None for name in order}
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in order if name in keep}
    for x_t in x:
        out: dict[str, torch.Tensor] = {}
        for name in order:
            node = graph.nodes[name]
            if name == input_name:
                value = x_t
            elif isinstance(node, SpikingSelfAttention):
                value = torch.stack([out[o] for o in node.operands])  # operands by name, not summed
            else:
                srcs = sources[name]
                if not srcs:
                    raise ValueError(f"node {name!r} has no incoming edge and is not the Input node")
                value = out[srcs[0]]
                for src in srcs[1:]:
                    value = value + out[src]
            out[name], state[name] = steps_by_node[name](value, state[name])
            if name in recorded:
                recorded[name].append(out[name])
    return {name: torch.stack(values) for name, values in recorded.items()}


def _prepare(name: str, node: nir.NIRNode, dt: float | None, sources: list[str]) -> Step:
    if isinstance(node, SpikingSelfAttention):
        if sorted(sources) != sorted(node.operands):
            raise ValueError(f"extension node {name!r} needs exactly the edges from {list(node.operands)}, has edges from {sources}")
        return _stateless(lambda qkv: ssa_step(qkv[0], qkv[1], qkv[2], node.num_heads, node.scale))
    prepare = NODE_TYPES.get(type(node))
    if prepare is None:
        raise NotImplementedError(f"node {name!r}: the executor has no semantics for NIR type {type(node).__name__}; it knows {sorted(t.__name__ for t in NODE_TYPES)} and SpikingSelfAttention")
    return prepare(node, dt)


def readout_logits(graph: nir.NIRGraph, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The student's logits [B, A]: the output node averaged over the T steps (metadata ``readout``)."""
    return outputs[(graph.metadata or {}).get("output_node", "output")].mean(dim=0)


class StepModule(torch.nn.Module):
    """One NIR node as a stateful torch module for nirtorch: forward(x, state) -> (y, state)."""

    def __init__(self, step: Step):
        super().__init__()
        self.step = step

    def forward(self, x: torch.Tensor, state=None):
        y, new_state = self.step(x.to(DTYPE), state)
        return y, new_state


def nirtorch_node_map(dt: float | None) -> dict[type, Callable[[nir.NIRNode], torch.nn.Module]]:
    """A node map for `nirtorch.nir_to_torch` that uses this executor's semantics.

    It replaces nirtorch 2.6's defaults, which drop the Affine bias and SumPool2d padding and read
    nir.Flatten's batchless start_dim as if the batch were dim 0.
    """
    def module_for(prepare):
        return lambda node: StepModule(prepare(node, dt))
    return {t: module_for(p) for t, p in NODE_TYPES.items() if t not in (nir.Input, nir.Output)}
