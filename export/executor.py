"""A reference executor for NIR graphs: step by step, in torch float64, with NIR's semantics.

It is the independent check that an exported graph means what the Norse model does, and a plain
interpreter for NIR files other tools write (Norse, snnTorch, Sinabs, Rockpool; tests/export/test_interop.py).
Each time step runs every node once (`execution_plan`); a node's input is the sum of its incoming
edges, a recurrent edge (one that closes a cycle) carrying its source's output of the previous step.
Neurons integrate NIR's equations with forward Euler: LIF v <- v + (dt/tau)(v_leak - v + r I),
IF v <- v + dt r I, CubaLIF's current then voltage; spike v > v_threshold (v >= v_threshold where the
node's metadata says ``firing_rule: ">="``, export/SCHEMA.md), then v <- v_reset or, with
reset="subtract", v <- v - v_threshold. dt and the reset mode are decided in `export.conventions`.
Each node type has one small `prepare` function in `NODE_TYPES`. Not run: nested graphs and Delay
(`export.graph_checks` says so in one line). `nirtorch_node_map` exposes the same step functions as
modules for `nirtorch.nir_to_torch`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import torch
import torch.nn.functional as F

from export.attention import SpikingSelfAttention, ssa_step
from export.conventions import check_reset, firing_rule, resolve_dt, warn_if_writer_meant_subtraction
from export.graph_checks import check_flat_graph, cycle_nodes, unknown_type_error
from snnpar.errors import UserError

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


def fire_and_reset(v: torch.Tensor, v_threshold, v_reset, reset: str,
                   rule: str = ">") -> tuple[torch.Tensor, torch.Tensor]:
    """Spike where v > v_threshold (rule ">=": v >= v_threshold); then v <- v_reset (NIR's rule, reset "zero")
    or v <- v - v_threshold ("subtract")."""
    z = (v >= v_threshold if rule == ">=" else v > v_threshold).to(v.dtype)
    if reset == "subtract":
        return z, v - z * v_threshold
    return z, torch.where(z > 0, v_reset, v)


def lif_step(x: torch.Tensor, v: torch.Tensor | None, alpha, r, v_leak, v_threshold, v_reset,
             reset: str = "zero", rule: str = ">") -> tuple[torch.Tensor, torch.Tensor]:
    """NIR LIF, forward Euler: tau dv/dt = (v_leak - v) + r I; spike v > v_threshold (or >=); then the reset."""
    v = torch.zeros_like(x) if v is None else v
    v = v + alpha * (v_leak - v + r * x)
    return fire_and_reset(v, v_threshold, v_reset, reset, rule)


@dataclass(frozen=True)
class StepConfig:
    """What every node's step may need besides its own fields: the time step and the reset mode."""

    dt: float | None = None
    reset: str = "zero"

    def need_dt(self, what: str) -> float:
        if self.dt is None:
            raise UserError(f"a {what} node needs dt: pass run_graph(..., dt=...) or store 'dt' in the graph metadata")
        return float(self.dt)


def _prepare_lif(node: nir.LIF, cfg: StepConfig) -> Step:
    alpha = cfg.need_dt("LIF") / _t(node.tau)
    params = (_t(node.r), _t(node.v_leak), _t(node.v_threshold), _t(node.v_reset))
    rule = firing_rule(node)
    return lambda x, v: lif_step(x, v, alpha, *params, reset=cfg.reset, rule=rule)


def _prepare_li(node: nir.LI, cfg: StepConfig) -> Step:
    alpha, r, v_leak = cfg.need_dt("LI") / _t(node.tau), _t(node.r), _t(node.v_leak)

    def step(x, v):
        v = torch.zeros_like(x) if v is None else v
        v = v + alpha * (v_leak - v + r * x)
        return v, v
    return step


def _prepare_if(node: nir.IF, cfg: StepConfig) -> Step:
    """NIR IF: dv/dt = r I, forward Euler v <- v + dt r I (a discrete-time graph, e.g. Sinabs', has dt = 1)."""
    scale, th, v_reset = cfg.need_dt("IF") * _t(node.r), _t(node.v_threshold), _t(node.v_reset)
    rule = firing_rule(node)

    def step(x, v):
        v = (torch.zeros_like(x) if v is None else v) + scale * x
        return fire_and_reset(v, th, v_reset, cfg.reset, rule)
    return step


def _prepare_i(node: nir.I, cfg: StepConfig) -> Step:
    scale = cfg.need_dt("I") * _t(node.r)

    def step(x, v):
        v = (torch.zeros_like(x) if v is None else v) + scale * x
        return v, v
    return step


def _cuba_step(node: nir.CubaLIF | nir.CubaLI, cfg: StepConfig):
    """NIR's current-based neuron, forward Euler; the membrane sees the current of the same step:
    i <- i + (dt/tau_syn)(w_in x - i), then v <- v + (dt/tau_mem)(v_leak - v + r i), as Norse's and
    snnTorch's importers and Lava's LIF (u, then v) compute it. A bias upstream is part of x."""
    dt = cfg.need_dt(type(node).__name__)
    a_syn, a_mem = dt / _t(node.tau_syn), dt / _t(node.tau_mem)
    w_in, r, v_leak = _t(node.w_in), _t(node.r), _t(node.v_leak)

    def integrate(x, state):
        i, v = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        i = i + a_syn * (w_in * x - i)
        return i, v + a_mem * (v_leak - v + r * i)
    return integrate


def _prepare_cuba_lif(node: nir.CubaLIF, cfg: StepConfig) -> Step:
    integrate, th, v_reset = _cuba_step(node, cfg), _t(node.v_threshold), _t(node.v_reset)
    rule = firing_rule(node)

    def step(x, state):
        i, v = integrate(x, state)
        z, v = fire_and_reset(v, th, v_reset, cfg.reset, rule)
        return z, (i, v)
    return step


def _prepare_cuba_li(node: nir.CubaLI, cfg: StepConfig) -> Step:
    integrate = _cuba_step(node, cfg)

    def step(x, state):
        i, v = integrate(x, state)
        return v, (i, v)
    return step


def _stateless(fn: Callable[[torch.Tensor], torch.Tensor]) -> Step:
    return lambda x, state: (fn(x), None)


def _prepare_affine(node: nir.Affine, cfg) -> Step:
    """y = W x + b; a weight with leading dims (C, out, in) applies one matrix per leading index (NIR's typing)."""
    w, b = _t(node.weight), _t(node.bias)
    return _stateless(lambda x: (w @ x.unsqueeze(-1)).squeeze(-1) + b)


def _prepare_linear(node: nir.Linear, cfg) -> Step:
    w = _t(node.weight)
    return _stateless(lambda x: (w @ x.unsqueeze(-1)).squeeze(-1))


def _prepare_scale(node: nir.Scale, cfg) -> Step:
    s = _t(node.scale)
    return _stateless(lambda x: x * s)


def _prepare_conv1d(node: nir.Conv1d, cfg) -> Step:
    w, b = _t(node.weight), _t(node.bias)
    kw = dict(stride=int(np.asarray(node.stride).reshape(-1)[0]), dilation=int(np.asarray(node.dilation).reshape(-1)[0]), groups=int(node.groups))
    padding = node.padding if isinstance(node.padding, str) else int(np.asarray(node.padding).reshape(-1)[0])
    return _stateless(lambda x: F.conv1d(x, w, b, padding=padding, **kw))


def _prepare_conv2d(node: nir.Conv2d, cfg) -> Step:
    w, b = _t(node.weight), _t(node.bias)
    kw = dict(stride=_pair(node.stride), dilation=_pair(node.dilation), groups=int(node.groups), padding=_padding(node.padding))
    return _stateless(lambda x: F.conv2d(x, w, b, **kw))


def _prepare_sumpool2d(node: nir.SumPool2d, cfg) -> Step:
    kw = dict(kernel_size=_pair(node.kernel_size), stride=_pair(node.stride), padding=_pair(node.padding))
    # divisor 1 turns the average into a sum over the window, zero padding included
    return _stateless(lambda x: F.avg_pool2d(x, count_include_pad=True, divisor_override=1, **kw))


def _prepare_avgpool2d(node: nir.AvgPool2d, cfg) -> Step:
    kw = dict(kernel_size=_pair(node.kernel_size), stride=_pair(node.stride), padding=_pair(node.padding))
    return _stateless(lambda x: F.avg_pool2d(x, count_include_pad=True, **kw))


def _prepare_flatten(node: nir.Flatten, cfg) -> Step:
    """NIR's start/end dims index the batchless shape; here dim 0 is the batch, so shift by one."""
    start = int(node.start_dim) + 1 if int(node.start_dim) >= 0 else int(node.start_dim)
    end = int(node.end_dim) + 1 if int(node.end_dim) >= 0 else int(node.end_dim)
    return _stateless(lambda x: x.flatten(start, end))


def _prepare_threshold(node: nir.Threshold, cfg) -> Step:
    th = _t(node.threshold)
    return _stateless(lambda x: (x > th).to(x.dtype))


def _prepare_identity(node, cfg) -> Step:
    return _stateless(lambda x: x)


NODE_TYPES: dict[type, Callable[[nir.NIRNode, StepConfig], Step]] = {
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


SPIKING_NODES = (nir.LIF, nir.IF, nir.CubaLIF)


class SilentLayerWarning(UserWarning):
    """A spiking layer produced no spike at all over a run (often a wrong dt or input scale)."""


class ExecutionResult(dict):
    """{node name: outputs [T, B, ...]} (float64), plus what the run decided and found.

    `dt` and `reset` are the time step and reset mode used, `recurrent_edges` the edges that carried the
    previous step's value, `silent_layers` the spiking nodes (LIF, IF, CubaLIF) without a single spike.
    """

    dt: float | None = None
    reset: str = "zero"
    recurrent_edges: tuple[tuple[str, str], ...] = ()
    silent_layers: tuple[str, ...] = ()


def execution_plan(graph: nir.NIRGraph, input_name: str) -> tuple[list[str], set[tuple[str, str]]]:
    """The order nodes run in each step and the graph's recurrent edges.

    A depth-first walk from the Input, edges in list order, marks an edge recurrent where it closes a cycle
    (its target is on the walk's current path). Without those edges the graph is acyclic; the order is its
    topological order, ties kept in the graph's node order. A node no path from the Input reaches is an
    error naming it (or, for a cycle of such nodes, the cycle's nodes only).
    """
    children: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        children[src].append(dst)
    recurrent: set[tuple[str, str]] = set()
    seen, on_path = {input_name}, {input_name}
    work = [(input_name, iter(children[input_name]))]
    while work:
        node, rest = work[-1]
        child = next(rest, None)
        if child is None:
            work.pop()
            on_path.discard(node)
        elif child in on_path:
            recurrent.add((node, child))
        elif child not in seen:
            seen.add(child)
            on_path.add(child)
            work.append((child, iter(children[child])))
    unreached = [name for name in graph.nodes if name not in seen]
    if unreached:
        cycles = [c for c in cycle_nodes(graph) if set(c) <= set(unreached)]
        if cycles:
            raise UserError(f"nodes {cycles[0]} form a cycle that no path from the Input node {input_name!r} reaches, so "
                            "nothing ever drives it; connect it to the Input or remove it")
        raise UserError(f"node {unreached[0]!r} has no path from the Input node {input_name!r}; connect it or remove it")
    incoming = {name: 0 for name in graph.nodes}
    forward = [(a, b) for a, b in graph.edges if (a, b) not in recurrent]
    for _, dst in forward:
        incoming[dst] += 1
    position = {name: i for i, name in enumerate(graph.nodes)}
    ready = sorted((n for n, k in incoming.items() if k == 0), key=position.get)
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for child in (b for a, b in forward if a == name):
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
        ready.sort(key=position.get)
    return order, recurrent


def run_graph(graph: nir.NIRGraph | str | Path, inputs: torch.Tensor | np.ndarray, T: int | None = None, dt: float | None = None,
              keep: Iterable[str] | None = None, reset: str | None = None) -> ExecutionResult:
    """Run `graph` for T steps; returns {node name: outputs [T, B, ...]} (float64) for every node (or those in `keep`).

    `inputs` is either [B, *input_shape] (direct encoding: the same input at every step; T from the
    argument or the metadata ``time_steps``) or [T, B, *input_shape] (one input per step).
    dt: the metadata ``dt`` where the graph has one, else this argument (see export.conventions).
    reset: "zero" (NIR: v <- v_reset) or "subtract" (v <- v - v_threshold); unset means "zero", with a
    `WriterResetWarning` where the graph's writer is known to store v_reset = 0 for subtraction.

    Semantics per step: every node runs once, in `execution_plan` order; a node's input is the sum of its
    incoming edges in edge-list order (the SSA extension node takes its operands by name). An edge that
    closes a cycle (a recurrent edge, e.g. snnTorch's ``lif1.lif -> lif1.w_rec -> lif1.lif``) carries its
    source's output of the previous step, zero at the first step: a recurrent layer sees its own spikes one
    step late, as Norse's `from_nir` (nirtorch's graph executor) and snnTorch's RLeaky/RSynaptic compute it.
    A spiking layer that never fires is named in `silent_layers` and by a `SilentLayerWarning`.
    """
    if not isinstance(graph, nir.NIRGraph):
        from export.graph_io import read_graph

        graph = read_graph(graph)
    check_flat_graph(graph, "the NIR executor")
    meta = graph.metadata or {}
    warn_if_writer_meant_subtraction(graph, reset)
    cfg = StepConfig(resolve_dt(graph, dt), check_reset(reset))
    inputs_by_node = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs_by_node) != 1:
        raise UserError(f"run_graph needs exactly one Input node, the graph has {inputs_by_node}")
    input_name = inputs_by_node[0]
    input_shape = tuple(int(s) for s in np.asarray(graph.nodes[input_name].input_type["input"]).reshape(-1))
    x = torch.as_tensor(np.asarray(inputs) if isinstance(inputs, np.ndarray) else inputs).to(DTYPE)
    if tuple(x.shape[1:]) == input_shape:
        steps = T if T is not None else meta.get("time_steps")
        if steps is None:
            raise UserError("inputs [B, ...] are repeated over time (direct encoding): pass T or store 'time_steps' in the metadata")
        x = x.unsqueeze(0).expand(int(steps), *x.shape)
    elif tuple(x.shape[2:]) != input_shape:
        raise UserError(f"inputs of shape {list(x.shape)} fit neither [B, {input_shape}] nor [T, B, {input_shape}] of node {input_name!r}")
    elif T is not None and T != x.shape[0]:
        raise UserError(f"T = {T} but the input sequence has {x.shape[0]} steps")

    order, recurrent = execution_plan(graph, input_name)
    sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        sources[dst].append(src)
    steps_by_node = {name: _prepare(name, graph.nodes[name], cfg, sources[name]) for name in order}
    keep = set(graph.nodes if keep is None else keep)
    state: dict[str, object] = {name: None for name in order}
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in order if name in keep}
    spike_counts = {name: 0.0 for name in order if isinstance(graph.nodes[name], SPIKING_NODES)}
    previous: dict[str, torch.Tensor] = {}  # last step's outputs of the sources of recurrent edges
    for x_t in x:
        out: dict[str, torch.Tensor] = {}
        edge_value = _edge_values(out, previous, recurrent)
        for name in order:
            node = graph.nodes[name]
            if name == input_name:
                value = x_t
            elif isinstance(node, SpikingSelfAttention):  # operands by name, not summed
                operands = [edge_value(o, name) for o in node.operands]
                like = next(o for o in operands if o is not None)
                value = torch.stack([torch.zeros_like(like) if o is None else o for o in operands])
            else:
                terms = [v for v in (edge_value(src, name) for src in sources[name]) if v is not None]
                value = terms[0]
                for term in terms[1:]:
                    value = value + term
            out[name], state[name] = steps_by_node[name](value, state[name])
            if name in recorded:
                recorded[name].append(out[name])
            if name in spike_counts:
                spike_counts[name] += float(out[name].sum())
        previous = {src: out[src] for src, _ in recurrent}
    result = ExecutionResult({name: torch.stack(values) for name, values in recorded.items()})
    result.dt, result.reset = cfg.dt, cfg.reset
    result.recurrent_edges = tuple(e for e in graph.edges if tuple(e) in recurrent)
    result.silent_layers = tuple(name for name, count in spike_counts.items() if count == 0)
    if result.silent_layers:
        warnings.warn(f"spiking layers {list(result.silent_layers)} produced no spike in {x.shape[0]} steps (dt = {cfg.dt}); "
                      "check dt (a discrete-time graph such as Sinabs' needs dt = 1), the input scale and the thresholds",
                      SilentLayerWarning, stacklevel=2)
    return result


def _edge_values(out: dict, previous: dict, recurrent: set) -> Callable[[str, str], torch.Tensor | None]:
    """The value an edge carries this step: its source's output now, or last step's for a recurrent edge
    (None at the first step: it adds nothing)."""
    return lambda src, dst: previous.get(src) if (src, dst) in recurrent else out[src]


def _prepare(name: str, node: nir.NIRNode, cfg: StepConfig, sources: list[str]) -> Step:
    if isinstance(node, SpikingSelfAttention):
        if sorted(sources) != sorted(node.operands):
            raise UserError(f"extension node {name!r} needs exactly the edges from {list(node.operands)}, has edges from {sources}")
        return _stateless(lambda qkv: ssa_step(qkv[0], qkv[1], qkv[2], node.num_heads, node.scale))
    prepare = NODE_TYPES.get(type(node))
    if prepare is None:
        raise unknown_type_error(name, node, "the NIR executor", [t.__name__ for t in NODE_TYPES] + ["SpikingSelfAttention"])
    return prepare(node, cfg)


def readout_logits(graph: nir.NIRGraph, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The student's logits [B, A]: the output node averaged over the T steps (metadata ``readout``); a
    portable graph's (A, 1, 1) output is flattened."""
    return outputs[(graph.metadata or {}).get("output_node", "output")].mean(dim=0).flatten(1)


class StepModule(torch.nn.Module):
    """One NIR node as a stateful torch module for nirtorch: forward(x, state) -> (y, state)."""

    def __init__(self, step: Step):
        super().__init__()
        self.step = step

    def forward(self, x: torch.Tensor, state=None):
        y, new_state = self.step(x.to(DTYPE), state)
        return y, new_state


def nirtorch_node_map(dt: float | None, reset: str = "zero") -> dict[type, Callable[[nir.NIRNode], torch.nn.Module]]:
    """A node map for `nirtorch.nir_to_torch` that uses this executor's semantics.

    It replaces nirtorch 2.6's defaults, which drop the Affine bias and SumPool2d padding and read
    nir.Flatten's batchless start_dim as if the batch were dim 0.
    """
    cfg = StepConfig(dt, check_reset(reset))

    def module_for(prepare):
        return lambda node: StepModule(prepare(node, cfg))
    return {t: module_for(p) for t, p in NODE_TYPES.items() if t not in (nir.Input, nir.Output)}
