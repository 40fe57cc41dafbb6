"""NIR graph -> connected Lava processes: one small builder per lowered node kind.

`build(graph)` lowers the graph (`hw_sim.lowering`: the table from NIR node type to node kind), aligns
branch delays (`hw_sim.delays`), optionally quantises (`hw_sim.quantize`), then `PROCESS_BUILDERS` turns
each node into one Lava process: Input -> RingBuffer (graded source, all presentations back to back),
Synapse -> Dense or Conv, Neurons -> LIFReset (du = 1, state zeroed at the group's depth in every
presentation, so no host intervention between steps or images), Attention -> SpikingSelfAttention; a
DelayLine per signal that some consumer needs later. Flatten edges become Lava virtual ports
(transpose/reshape), fan-in several connections into one port. It builds; it does not run (see `hw_sim.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from hw_sim.delays import align_branch_delays
from hw_sim.lowering import (
    Attention,
    Input,
    Network,
    Neurons,
    Synapse,
    as_3d,
    lava_shape,
    lower,
    torch_to_lava_weight,
)
from hw_sim.quantize import Quantization

FLOAT_NEVER_SPIKES = 1e30


@dataclass
class LavaNetwork:
    """The processes of one network. Presentations are pipelined: image b enters at Lava step b*T and a node
    d steps deep works on it during steps [b*T + d, b*T + d + T), so a stream of B images takes B*T + depth
    steps, not B*(T + depth); every group's state is zeroed at its own offset (LIFReset) each period."""

    net: Network
    mode: str
    quant: Quantization | None
    time_steps: int  # T: the period of the pipeline
    presentations: int = 1
    processes: dict = field(default_factory=dict)  # node name -> Lava process
    delay_lines: dict = field(default_factory=dict)  # source name -> DelayLine

    @property
    def num_processes(self) -> int:
        return len(self.processes) + len(self.delay_lines)

    @property
    def num_steps(self) -> int:
        """Lava steps for all presentations: one period each, plus the depth for the last to reach the end."""
        return self.time_steps * self.presentations + self.net.max_depth

    def out_port(self, name: str, delay: int = 0):
        if delay:
            return self.delay_lines[name].tap(delay)
        proc = self.processes[name]
        return proc.a_out if hasattr(proc, "a_out") else proc.s_out


def reindex(port, src_shape: tuple[int, ...], dst_shape: tuple[int, ...]):
    """A virtual port carrying a Lava-layout signal of NIR shape src_shape as NIR shape dst_shape (Flatten)."""
    src3, dst3 = as_3d(tuple(src_shape)), as_3d(tuple(dst_shape))
    if src3 == dst3:
        return port
    if len(src3) > 1:
        port = port.transpose(list(reversed(range(len(src3)))))
    port = port.reshape(dst3)
    if len(dst3) > 1:
        port = port.transpose(list(reversed(range(len(dst3)))))
    return port


def _build_input(node: Input, ln: LavaNetwork):
    from lava.proc.io.source import RingBuffer

    return RingBuffer(data=np.zeros((*lava_shape(node.shape), ln.num_steps)))


def _build_neurons(node: Neurons, ln: LavaNetwork):
    """Lava's LIFReset: u and v are zeroed at the group's first Lava step of every presentation (its depth
    plus a multiple of T), so whatever reached it before (its bias, the previous image) is forgotten."""
    from lava.proc.lif.process import LIFReset

    shape = lava_shape(node.shape)
    period = ln.time_steps
    reset = dict(reset_interval=period, reset_offset=(node.depth + 1) % period)  # time_step counts from 1
    if ln.mode == "fixed":
        f = ln.quant.neurons[node.name]
        return LIFReset(shape=shape, du=f.du, dv=f.dv, vth=f.vth,
                        bias_mant=_to_lava(f.bias_mant, node.shape).astype(np.int32),
                        bias_exp=np.full(shape, f.bias_exp, np.int32), name=node.name, **reset)
    vth = node.threshold if node.spiking else FLOAT_NEVER_SPIKES
    return LIFReset(shape=shape, du=1.0, dv=node.decay, vth=vth, bias_mant=_to_lava(node.bias, node.shape),
                    name=node.name, **reset)


def _build_synapse(node: Synapse, ln: LavaNetwork):
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense

    bits = 24 if node.graded else 0
    if ln.mode == "fixed":
        fs = ln.quant.synapses[node.name]
        weight, exp = fs.weight, fs.weight_exp
    else:
        w = node.weight * (node.gain / node.input_gain)
        weight, exp = (torch_to_lava_weight(w) if node.op == "conv" else w), 0
    if node.op == "dense":
        return Dense(weights=weight, num_message_bits=bits, weight_exp=exp, num_weight_bits=8, name=node.name)
    proc = Conv(weight=weight, input_shape=lava_shape(node.in_shape), padding=node.padding[::-1],
                stride=node.stride[::-1], dilation=node.dilation[::-1], groups=node.groups,
                num_message_bits=bits, name=node.name)
    if tuple(proc.output_shape) != lava_shape(node.out_shape):
        raise ValueError(f"conv {node.name!r}: Lava computes output {proc.output_shape}, NIR says "
                         f"{lava_shape(node.out_shape)} (W, H, C); check padding/stride in the graph")
    return proc


def _build_attention(node: Attention, ln: LavaNetwork):
    from hw_sim.processes.ssa import SpikingSelfAttention

    mult = ln.quant.attention[node.name] if ln.mode == "fixed" else 1
    return SpikingSelfAttention(shape=node.shape, num_heads=node.num_heads, scale=node.scale,
                                out_gain=node.gain, multiplier=mult, name=node.name)


PROCESS_BUILDERS = {Input: _build_input, Neurons: _build_neurons, Synapse: _build_synapse,
                    Attention: _build_attention}


def _to_lava(x: np.ndarray, shape) -> np.ndarray:
    from hw_sim.lowering import to_lava

    return to_lava(np.broadcast_to(x, shape), shape)


def _in_ports(node, proc) -> list:
    if isinstance(node, Attention):
        ports = {"query": proc.q_in, "key": proc.k_in, "value": proc.v_in}
        return [ports[role] for role in node.operands]
    return [proc.a_in if isinstance(node, Neurons) else proc.s_in] * len(node.inputs)


def build(graph: nir.NIRGraph | Network, mode: str = "float", T: int | None = None,
          quant: Quantization | None = None, dt: float | None = None, presentations: int = 1) -> LavaNetwork:
    """Lava processes for a graph (or a lowered network), connected; `T` steps per presentation,
    `presentations` inputs (images) back to back in the source, pipelined (see `LavaNetwork`)."""
    from hw_sim.processes.delay import make_delay_line

    if mode not in ("float", "fixed"):
        raise ValueError(f"mode must be 'float' or 'fixed', not {mode!r}")
    net = graph if isinstance(graph, Network) else lower(graph, dt=dt)
    taps = align_branch_delays(net)
    T = T or net.time_steps
    if not T:
        raise ValueError("number of time steps unknown: the graph has no metadata 'time_steps'; pass T=")
    if mode == "fixed" and quant is None:
        raise ValueError("fixed mode needs a Quantization (hw_sim.quantize.quantize(network))")
    ln = LavaNetwork(net, mode, quant, int(T), int(presentations))
    for name, node in net.nodes.items():
        ln.processes[name] = PROCESS_BUILDERS[type(node)](node, ln)
    for src, delays in taps.items():
        shape = _signal_shape(net.nodes[src])
        ln.delay_lines[src] = make_delay_line(lava_shape(shape), delays, name=f"{src}.delay")
        ln.out_port(src).connect(ln.delay_lines[src].in_port)
    for name, node in net.nodes.items():
        if isinstance(node, Input):
            continue
        for edge, port in zip(node.inputs, _in_ports(node, ln.processes[name])):
            reindex(ln.out_port(edge.source, edge.delay), edge.src_shape, edge.dst_shape).connect(port)
    return ln


def _signal_shape(node) -> tuple[int, ...]:
    return node.out_shape if isinstance(node, Synapse) else node.shape
