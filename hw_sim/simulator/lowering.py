"""NIR graph -> a lowered network of neuron groups, synapses and an attention node, ready for Lava.

One small function per NIR node type (`NODE_LOWERINGS`) turns a node into what Lava runs:
- Affine/Linear, Conv1d/Conv2d, SumPool2d/AvgPool2d -> `Synapse` (Lava Dense or Conv; Conv1d as 2-D with H = 1;
  an Affine/Linear with one matrix per channel, weight (C, out, in), as a Conv with groups = C);
- LIF/IF/LI/Threshold -> `Neurons` (Lava LIF with du = 1): LIF v <- v + a(v_leak - v + r I) with a = dt/tau
  becomes dv = a, input gain a*r (folded into the incoming weights), bias a*v_leak + gain * (synapse biases);
  IF (NIR's dv/dt = r I, forward Euler v <- v + dt r I, as export.executor): dv = 0, gain dt*r; Threshold:
  dv = 1 (memoryless), gain 1; LI: non-spiking LIF;
- CubaLIF/CubaLI -> `Neurons` with a synaptic current: NIR's i <- i + b(w_in x - i), v <- v + a(v_leak - v + r i)
  with b = dt/tau_syn is Lava's u <- u(1 - du) + input, v <- v(1 - dv) + u + bias for u = a r i: du = b,
  dv = a, gain a*r*b*w_in. A synapse bias o enters the current as NIR says: i <- i + b(w_in (x + o) - i) is
  u <- u(1 - du) + gain x + gain o, a constant `current_bias` = gain * o added to u every step (not Lava's
  v-bias, which would skip the current's filtering);
- Flatten -> no node: a re-indexing of the edges through it;
- the project's SpikingSelfAttention extension -> `Attention` (a custom Lava process).
Synapse biases travel as offsets through later linear synapses into the neurons' biases or the readout.
Recurrent edges are the executor's (`export.executor.execution_plan`: an edge closing a cycle on the walk from
the Input) and carry the previous step; they may only enter neuron groups (`Edge.recurrent`; a bias through
a recurrent synapse is the group's `recurrent_bias`, absent at the first step as the edge's value is).
dt is the graph's metadata or the caller's, the reset mode the caller's (export.conventions); a graph that is
not one flat graph of known nodes is refused in one line naming the nodes. Depths and delays are not decided here (see `hw_sim.simulator.delays`), nor fixed-point formats (`hw_sim.chip.quantize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from export.conventions import check_reset, firing_rule, resolve_dt, warn_if_writer_meant_subtraction
from export.graph_checks import check_flat_graph, unknown_type_error
from snnpar.errors import UserError


@dataclass
class Edge:
    """A signal from `source` into a node, re-shaped from `src_shape` to `dst_shape` (Flatten), `delay` steps late;
    a `recurrent` edge (one that closes a cycle) carries the source's value of the previous NIR step."""

    source: str
    src_shape: tuple[int, ...]
    dst_shape: tuple[int, ...]
    delay: int = 0
    recurrent: bool = False


@dataclass
class Input:
    name: str
    shape: tuple[int, ...]
    depth: int = 0


@dataclass
class Synapse:
    """A linear map with Lava's one-step delay: 'dense' (weight [out, in], NIR flat order) or 'conv'
    (weight [C_out, C_in/groups, kH, kW] as torch, 2-D; Conv1d has kH = 1)."""

    name: str
    op: str
    weight: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    bias: np.ndarray  # own bias, NIR out shape
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    inputs: list[Edge] = field(default_factory=list)
    gain: float = 1.0  # output scale, the consumer neurons' input gain
    input_gain: float = 1.0  # scale of the graded signals coming in (1 for spikes and the image)
    offset: np.ndarray | None = None  # bias reaching the output: own + upstream offsets mapped through
    graded: bool = False  # input is graded (image or synapse outputs), not spikes
    depth: int = 0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The bias-free map on one NIR-layout input, in float64 (used for offsets and references)."""
        if self.op == "dense":
            return (self.weight @ x.reshape(-1)).reshape(self.out_shape)
        return conv2d_nir(x.reshape(as_3d(self.in_shape)), self).reshape(self.out_shape)


@dataclass
class Neurons:
    """A Lava LIF group: u <- u (1 - current_decay) + gain * I + current_bias, v <- v (1 - decay) + u + bias;
    spike v > threshold (v >= threshold where firing_rule is ">="); reset to 0, or v <- v - threshold where
    reset is "subtract". Recurrent inputs and `recurrent_bias` (into u) count from the group's second step."""

    name: str
    nir_type: str
    shape: tuple[int, ...]
    decay: float
    gain: float
    threshold: float
    leak_bias: np.ndarray  # decay * v_leak, NIR shape
    spiking: bool = True
    current_decay: float = 1.0  # Lava's du: 1 = the input acts for one step only (no synaptic current)
    inputs: list[Edge] = field(default_factory=list)
    bias: np.ndarray | None = None  # leak_bias + gain * incoming offsets (set by `lower`)
    depth: int = 0
    firing_rule: str = ">"  # the NIR node's metadata ``firing_rule``; NIR's own LIF fires on ">"
    reset: str = "zero"  # "zero" (NIR's v <- v_reset = 0) or "subtract" (v <- v - threshold)
    current_bias: np.ndarray | None = None  # gain * offsets entering through the synaptic current (set by `lower`)
    recurrent_bias: np.ndarray | None = None  # gain * offsets of recurrent synapses, into u from step 1 (`lower`)

    @property
    def has_recurrent_input(self) -> bool:
        return any(e.recurrent for e in self.inputs)

    @property
    def fits_lava_lif_reset(self) -> bool:
        """Whether Lava's own LIFReset runs this group exactly: no recurrent input, nothing into the current,
        reset to zero (otherwise `hw_sim.simulator.processes.neurons.RecurrentLIFReset` does)."""
        return not (self.has_recurrent_input or self.reset != "zero" or np.any(self.current_bias)
                    or np.any(self.recurrent_bias))

    @property
    def float_threshold(self) -> float:
        """The vth for Lava's float LIF, which fires on v > vth in float64: for ">=" the next float64 below
        the threshold, since v > nextafter(th, -inf) is exactly v >= th for every float64 v."""
        if self.firing_rule == ">=":
            return float(np.nextafter(np.float64(self.threshold), -np.inf))
        return float(self.threshold)


@dataclass
class Attention:
    """Spikingformer SSA: out = scale * q (k^T v) per head, on (C, N) spikes; no delay, no state."""

    name: str
    shape: tuple[int, int]
    num_heads: int
    scale: float
    operands: dict[str, Edge] = field(default_factory=dict)  # query / key / value
    gain: float = 1.0
    depth: int = 0

    @property
    def inputs(self) -> list[Edge]:
        return list(self.operands.values())


@dataclass
class Readout:
    """The Output node: mean over T of its input (graded synapse outputs or spikes)."""

    name: str
    shape: tuple[int, ...]
    inputs: list[Edge] = field(default_factory=list)
    gain: float = 1.0
    offset: np.ndarray | None = None
    depth: int = 0


@dataclass
class Network:
    nodes: dict[str, Input | Synapse | Neurons | Attention]  # topological order
    readout: Readout
    dt: float | None
    time_steps: int | None
    metadata: dict

    @property
    def input(self) -> Input:
        return next(n for n in self.nodes.values() if isinstance(n, Input))

    def of_type(self, kind) -> list:
        return [n for n in self.nodes.values() if isinstance(n, kind)]

    @property
    def max_depth(self) -> int:
        return max([n.depth for n in self.nodes.values()] + [self.readout.depth])


def signal_shape(node) -> tuple[int, ...]:
    """NIR shape of what a node emits: a synapse's output, a neuron group's or the input's own shape."""
    return node.out_shape if isinstance(node, Synapse) else node.shape


def as_3d(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NIR shape as (C, H, W): (C, N) -> (C, 1, N); 1-D stays 1-D."""
    return (shape[0], 1, shape[1]) if len(shape) == 2 else tuple(shape)


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Lava's layout of a NIR shape: (C, H, W) -> (W, H, C), (C, N) -> (N, 1, C), (n,) -> (n,)."""
    return tuple(reversed(as_3d(tuple(shape))))


def to_lava(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(x).reshape(as_3d(shape)).transpose(tuple(reversed(range(len(as_3d(shape))))))


def from_lava(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Lava layout -> NIR layout; leading axes of x (e.g. time) are kept."""
    nd = len(as_3d(shape))
    lead = x.shape[: x.ndim - nd]
    axes = tuple(range(len(lead))) + tuple(len(lead) + i for i in reversed(range(nd)))
    return x.transpose(axes).reshape(*lead, *shape)


def conv2d_nir(x: np.ndarray, syn: Synapse) -> np.ndarray:
    """Correlation as torch does it, on (C, H, W) float64 input: the synapse's bias-free map."""
    from hw_sim.simulator.processes.conv import lava_conv

    out = lava_conv(to_lava(x, x.shape).astype(np.float64), torch_to_lava_weight(syn.weight),
                    syn.stride[::-1], syn.padding[::-1], syn.dilation[::-1], syn.groups)
    return out.transpose(2, 1, 0)


def torch_to_lava_weight(w: np.ndarray) -> np.ndarray:
    """[C_out, C_in/g, kH, kW] (correlation) -> Lava's [C_out, kW, kH, C_in/g] (true convolution)."""
    return np.ascontiguousarray(np.asarray(w).transpose(0, 3, 2, 1)[:, ::-1, ::-1])


def _shape(node: nir.NIRNode, port: str) -> tuple[int, ...]:
    types = node.input_type if port == "input" else node.output_type
    return tuple(int(s) for s in np.asarray(next(iter(types.values()))).reshape(-1))


def _pair(value, n: int = 2) -> tuple[int, ...]:
    if isinstance(value, str):
        raise ValueError(f"string padding {value!r} is not supported; export explicit integer padding")
    arr = np.atleast_1d(np.asarray(value, dtype=int)).reshape(-1)
    return tuple(int(v) for v in (arr if arr.size == n else np.repeat(arr[:1], n)))


def _uniform(name: str, what: str, values) -> float:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(arr == arr[0]):
        raise ValueError(f"node {name!r}: per-neuron {what} differs across neurons; Lava's LIF takes one "
                         f"value per process: split the node or make {what} uniform")
    return float(arr[0])


# --- one function per NIR node type -------------------------------------------------------------------

def _lower_affine(name, node, dt):
    weight = np.asarray(node.weight, dtype=np.float64)
    bias = getattr(node, "bias", None)
    if weight.ndim == 3:
        return _lower_stacked_affine(name, weight, bias)
    if weight.ndim != 2:
        raise ValueError(f"node {name!r}: {type(node).__name__} weight of shape {weight.shape} is not supported; "
                         "expected (out, in) or one matrix per channel (C, out, in)")
    bias = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
    return Synapse(name, "dense", weight, (weight.shape[1],), (weight.shape[0],), bias)


def _lower_stacked_affine(name, weight, bias):
    """One small matrix per channel, y[c] = W[c] @ x[c] on (C, in) -> (C, out), as a conv with groups = C.

    A block-diagonal Dense would hold C^2 * out * in weights (600 MB per node for the 8-768 SDSA
    token sum); the grouped conv holds C * out * in. With in = 1 (SDSA's broadcast) a 'full' convolution
    (kernel 1 x out, padding out - 1) writes W[c, :, 0] * x[c] along the width, so the output keeps the
    (C, 1, out) layout; otherwise C * out output channels of kernel 1 x in give (C * out, 1, 1), whose flat
    order is that of (C, out).
    """
    channels, n_out, n_in = weight.shape
    if n_in == 1:
        kernel = weight[:, ::-1, 0].reshape(channels, 1, 1, n_out)  # correlation over the padded width
        out_shape, padding = (channels, 1, n_out), (0, n_out - 1)
    else:
        kernel = weight.reshape(channels * n_out, 1, 1, n_in)
        out_shape, padding = (channels * n_out, 1, 1), (0, 0)
    flat_bias = np.zeros(channels * n_out) if bias is None else np.broadcast_to(
        np.asarray(bias, dtype=np.float64), (channels, n_out)).reshape(-1)
    return Synapse(name, "conv", np.ascontiguousarray(kernel), (channels, 1, n_in), out_shape,
                   flat_bias.reshape(out_shape), (1, 1), padding, (1, 1), channels)


def _lower_conv(name, node, dt):
    weight = np.asarray(node.weight, dtype=np.float64)
    out_shape = _shape(node, "output")
    in_shape = _shape(node, "input")
    one_d = weight.ndim == 3
    n = 1 if one_d else 2
    stride, padding, dilation = (_pair(getattr(node, a), n) for a in ("stride", "padding", "dilation"))
    if one_d:
        weight = weight[:, :, None, :]
        stride, padding, dilation = (1, *stride), (0, *padding), (1, *dilation)
    if len(in_shape) != len(out_shape):
        in_shape = (weight.shape[1] * int(node.groups), *_input_spatial(node, out_shape))
    raw_bias = np.zeros(weight.shape[0]) if getattr(node, "bias", None) is None else node.bias
    bias = np.broadcast_to(np.asarray(raw_bias, dtype=np.float64).reshape(-1, *([1] * (len(out_shape) - 1))),
                           out_shape).copy()
    return Synapse(name, "conv", weight, in_shape, out_shape, bias, stride, padding, dilation, int(node.groups))


def _input_spatial(node, out_shape):
    return tuple(int(s) for s in np.atleast_1d(node.input_shape))


def _lower_pool(name, node, dt):
    in_shape, out_shape = _shape(node, "input"), _shape(node, "output")
    k = _pair(node.kernel_size)
    channels = in_shape[0]
    value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (k[0] * k[1])
    weight = np.full((channels, 1, *k), value)
    return Synapse(name, "conv", weight, in_shape, out_shape, np.zeros(out_shape), _pair(node.stride),
                   _pair(node.padding), (1, 1), channels)


def _reset_is_zero(name, node):
    if np.any(np.asarray(node.v_reset) != 0):
        raise ValueError(f"node {name!r}: Lava's LIF resets to 0, but v_reset = {np.unique(node.v_reset)} (reset by "
                         "subtraction ignores v_reset: pass reset='subtract' if the network was trained with it)")


def _lower_lif(name, node, dt):
    decay = _uniform(name, "dt/tau", dt / np.asarray(node.tau, dtype=np.float64))
    gain = decay * _uniform(name, "r", node.r)
    leak = decay * np.asarray(node.v_leak, dtype=np.float64)
    return Neurons(name, "LIF", _shape(node, "output"), decay, gain,
                   _uniform(name, "v_threshold", node.v_threshold), leak, firing_rule=firing_rule(node, name))


def _lower_if(name, node, dt):
    shape = _shape(node, "output")
    return Neurons(name, "IF", shape, 0.0, dt * _uniform(name, "r", node.r),
                   _uniform(name, "v_threshold", node.v_threshold), np.zeros(shape),
                   firing_rule=firing_rule(node, name))


def _lower_li(name, node, dt):
    decay = _uniform(name, "dt/tau", dt / np.asarray(node.tau, dtype=np.float64))
    return Neurons(name, "LI", _shape(node, "output"), decay, decay * _uniform(name, "r", node.r), np.inf,
                   decay * np.asarray(node.v_leak, dtype=np.float64), spiking=False)


def _lower_cuba(name, node, dt):
    kind = type(node).__name__
    spiking = isinstance(node, nir.CubaLIF)
    current = _uniform(name, "dt/tau_syn", dt / np.asarray(node.tau_syn, dtype=np.float64))
    decay = _uniform(name, "dt/tau_mem", dt / np.asarray(node.tau_mem, dtype=np.float64))
    gain = decay * _uniform(name, "r", node.r) * current * _uniform(name, "w_in", node.w_in)
    threshold = _uniform(name, "v_threshold", node.v_threshold) if spiking else np.inf
    return Neurons(name, kind, _shape(node, "output"), decay, gain, threshold,
                   decay * np.asarray(node.v_leak, dtype=np.float64), spiking=spiking, current_decay=current,
                   firing_rule=firing_rule(node, name))


def _lower_threshold(name, node, dt):
    shape = _shape(node, "output")
    return Neurons(name, "Threshold", shape, 1.0, 1.0, _uniform(name, "threshold", node.threshold),
                   np.zeros(shape))


def _lower_attention(name, node, dt):
    shape = tuple(int(s) for s in node.shape)
    att = Attention(name, shape, int(node.num_heads), float(node.scale))
    att.operands = {role: Edge(getattr(node, role), shape, shape) for role in ("query", "key", "value")}
    return att


NODE_LOWERINGS = {
    nir.Affine: _lower_affine,
    nir.Linear: _lower_affine,
    nir.Conv1d: _lower_conv,
    nir.Conv2d: _lower_conv,
    nir.SumPool2d: _lower_pool,
    nir.AvgPool2d: _lower_pool,
    nir.LIF: _lower_lif,
    nir.IF: _lower_if,
    nir.LI: _lower_li,
    nir.CubaLIF: _lower_cuba,
    nir.CubaLI: _lower_cuba,
    nir.Threshold: _lower_threshold,
}


def _is_attention(node) -> bool:
    return type(node).__name__ == "SpikingSelfAttention" or getattr(node, "extension", None) == "SpikingSelfAttention"


def lower(graph: nir.NIRGraph, dt: float | None = None, reset: str | None = None) -> Network:
    """Lower a NIR graph (one Input, one Output) to a `Network`; errors name the node and the fix.
    `reset`: "zero" (NIR's rule, the default) or "subtract" (v <- v - v_threshold), as `export.executor.run_graph`."""
    check_flat_graph(graph, "hw_sim")
    meta = dict(graph.metadata or {})
    dt = resolve_dt(graph, dt)
    warn_if_writer_meant_subtraction(graph, reset)
    reset = check_reset(reset)
    preds: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].append(src)
    recurrent = _recurrent_edges(graph)
    nodes: dict = {}
    readout = None

    def producers(name: str, dst: str, dst_shape: tuple[int, ...], late: bool = False) -> list[Edge]:
        """Edges into `dst` from `name`, seen through Flatten nodes as re-indexing; `late`: a recurrent edge
        on the way."""
        node = graph.nodes[name]
        late = late or (name, dst) in recurrent
        if isinstance(node, nir.Flatten):
            return [e for p in preds[name] for e in producers(p, name, dst_shape, late)]
        if isinstance(node, nir.Input):
            return [Edge(name, _shape(node, "output"), dst_shape, recurrent=late)]
        lowered = nodes.get(name)
        src_shape = (lowered.out_shape if isinstance(lowered, Synapse) else
                     lowered.shape if isinstance(lowered, Attention) else _shape(node, "output"))
        return [Edge(name, src_shape, dst_shape, recurrent=late)]

    for name in _topological(graph, preds, recurrent):
        node = graph.nodes[name]
        if isinstance(node, nir.Input):
            nodes[name] = Input(name, _shape(node, "output"))
        elif isinstance(node, nir.Flatten):
            continue
        elif isinstance(node, nir.Output):
            readout = Readout(name, _shape(node, "input"),
                              [e for p in preds[name] for e in producers(p, name, _shape(node, "input"))])
        elif _is_attention(node):
            att = _lower_attention(name, node, dt)
            for role, edge in att.operands.items():
                if edge.source not in preds[name]:
                    raise ValueError(f"attention node {name!r}: its {role} {edge.source!r} has no edge into it")
            nodes[name] = att
        elif type(node) in NODE_LOWERINGS:
            lowered = NODE_LOWERINGS[type(node)](name, node, dt)
            in_shape = lowered.in_shape if isinstance(lowered, Synapse) else lowered.shape
            lowered.inputs = [e for p in preds[name] for e in producers(p, name, in_shape)]
            if isinstance(lowered, Neurons) and lowered.spiking and lowered.nir_type != "Threshold":
                lowered.reset = reset
                if reset == "zero":
                    _reset_is_zero(name, node)
            nodes[name] = lowered
        else:
            raise unknown_type_error(name, node, "hw_sim (Lava)", [t.__name__ for t in NODE_LOWERINGS]
                                     + ["Flatten", "Input", "Output", "SpikingSelfAttention"])
    if readout is None or sum(isinstance(n, Input) for n in nodes.values()) != 1:
        raise ValueError("the graph needs exactly one Input and one Output node")
    for node in [*nodes.values(), readout]:
        late = [e.source for e in getattr(node, "inputs", []) if e.recurrent]
        if late and not isinstance(node, Neurons):
            raise UserError(f"the edge {late[0]!r} -> {node.name!r} closes a cycle into a {type(node).__name__.lower()}; "
                            "hw_sim takes recurrent edges into neuron nodes only (list the edges so that the walk from "
                            "the Input enters the cycle at its neurons, or run it with export.executor.run_graph)")
    net = Network(nodes, readout, dt, meta.get("time_steps"), meta)
    _resolve_gains_and_offsets(net)
    return net


def _recurrent_edges(graph: nir.NIRGraph) -> set[tuple[str, str]]:
    """The executor's recurrent edges (`export.executor.execution_plan`), so that both run the same graph."""
    from export.executor import execution_plan

    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        return set()  # `lower` refuses the graph below, naming the Input nodes
    return execution_plan(graph, inputs[0])[1]


def _topological(graph: nir.NIRGraph, preds: dict[str, list[str]], recurrent: set[tuple[str, str]]) -> list[str]:
    """Depth-first post-order over the edges that are not recurrent (acyclic by construction)."""
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for p in preds[name]:
            if (p, name) not in recurrent:
                visit(p)
        order.append(name)

    for name in graph.nodes:
        visit(name)
    return order


def _resolve_gains_and_offsets(net: Network) -> None:
    """Give every synapse the gain its consumers need and push synapse biases to neurons and the readout."""
    consumers: dict[str, list] = {}
    for node in [*net.nodes.values(), net.readout]:
        for e in getattr(node, "inputs", []):
            consumers.setdefault(e.source, []).append(node)
    for name, node in net.nodes.items():
        if isinstance(node, Synapse):
            gains = {c.gain for c in consumers.get(name, []) if isinstance(c, (Neurons, Attention))}
            if len(gains) > 1:
                raise ValueError(f"synapse {name!r} feeds neurons with different input gains {sorted(gains)}; "
                                 "Lava shares one weight matrix: give them equal dt/tau*r/v_th")
            node.gain = gains.pop() if gains else None
    for node in [*net.nodes.values(), net.readout]:  # synapses only feeding graded consumers: share a gain
        if isinstance(node, (Synapse, Readout)):
            ups = [net.nodes[e.source] for e in node.inputs if isinstance(net.nodes[e.source], Synapse)]
            known = {u.gain for u in ups if u.gain is not None}
            for u in ups:
                if u.gain is None:
                    u.gain = min(known) if known else 1.0
    for node in net.nodes.values():
        if isinstance(node, Synapse) and node.gain is None:
            node.gain = 1.0
    for name, node in net.nodes.items():
        if isinstance(node, Neurons):
            for c in consumers.get(name, []):
                if isinstance(c, Attention):
                    continue
                if isinstance(c, Neurons) and c.gain != 1.0:
                    raise ValueError(f"edge {name!r} -> {c.name!r}: spikes go straight into neurons with input "
                                     f"gain {c.gain}; only gain 1 (e.g. Threshold) is supported without a synapse")
        if isinstance(node, Attention):
            gains = {c.gain for c in consumers.get(name, [])}
            if len(gains) != 1 or any(not isinstance(c, Neurons) for c in consumers.get(name, [])):
                raise ValueError(f"attention {name!r} must feed neurons of one input gain, got {consumers.get(name)}")
            node.gain = gains.pop()
    for node in [*net.nodes.values(), net.readout]:
        if isinstance(node, Synapse):
            srcs = [net.nodes[e.source] for e in node.inputs]
            node.graded = any(not isinstance(s, (Neurons, Attention)) for s in srcs)
            in_gains = {s.gain for s in srcs if isinstance(s, Synapse)}
            if len(in_gains) > 1:
                raise ValueError(f"synapse {node.name!r} sums graded inputs of different gains {in_gains}")
            node.input_gain = in_gains.pop() if in_gains else 1.0
            upstream = _incoming_offset(net, node.inputs, node.in_shape)
            node.offset = node.bias + (node.apply(upstream) if np.any(upstream) else 0.0)
        elif isinstance(node, Neurons):
            offset = _incoming_offset(net, [e for e in node.inputs if not e.recurrent], node.shape)
            if node.current_decay < 1:  # the offset is part of the input the current filters
                node.bias, node.current_bias = node.leak_bias, node.gain * offset
            else:  # u is this step's input alone: into u or into v is the same; v's bias, as Lava's LIF has it
                node.bias, node.current_bias = node.leak_bias + node.gain * offset, np.zeros(node.shape)
        elif isinstance(node, Readout):
            node.offset = _incoming_offset(net, node.inputs, node.shape)
            gains = {net.nodes[e.source].gain for e in node.inputs if isinstance(net.nodes[e.source], Synapse)}
            node.gain = gains.pop() if len(gains) == 1 else 1.0
    for node in net.of_type(Neurons):  # recurrent synapses come later in the order: their offsets are known now
        node.recurrent_bias = node.gain * _incoming_offset(net, [e for e in node.inputs if e.recurrent], node.shape)


def _incoming_offset(net: Network, edges: list[Edge], shape) -> np.ndarray:
    total = np.zeros(shape)
    for e in edges:
        src = net.nodes[e.source]
        if isinstance(src, Synapse):
            total = total + src.offset.reshape(shape)
    return total
