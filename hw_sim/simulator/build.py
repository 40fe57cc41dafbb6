"""NIR graph -> connected Lava processes: one small builder per lowered node kind.

`build(graph)` lowers the graph (`hw_sim.simulator.lowering`: the table from NIR node type to node kind), aligns
branch delays (`hw_sim.simulator.delays`), optionally quantises (`hw_sim.chip.quantize`), then `PROCESS_BUILDERS` turns
each node into one Lava process: Input -> RingBuffer (graded source, all presentations back to back),
Synapse -> Dense or Conv, Neurons -> LIFReset (du = 1, or dt/tau_syn for CubaLIF; state zeroed at the
group's depth in every presentation, so no host intervention between steps or images), or RecurrentLIFReset
(`hw_sim.simulator.processes.neurons`) for a group with recurrent edges (into its `a_rec` port), a bias into
its current or reset by subtraction,
Attention -> SpikingSelfAttention; a
DelayLine per signal that some consumer needs later. Flatten edges become Lava virtual ports
(transpose/reshape), fan-in several connections into one port. Then, unless `fuse=False`, each chain of
layers with no branch in between (`hw_sim.simulator.fusion`) moves into one `FusedChain` process that runs the
members' own ProcessModels (the Lava runtime's cost is per process and step). It builds; it does not run
(see `hw_sim.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from hw_sim.chip.quantize import Quantization
from hw_sim.simulator.delays import align_branch_delays
from hw_sim.simulator.fusion import fusable_chains
from hw_sim.simulator.lowering import (
    Attention,
    Input,
    Network,
    Neurons,
    Synapse,
    as_3d,
    lava_shape,
    lower,
    signal_shape,
    torch_to_lava_weight,
)

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
    processes: dict = field(default_factory=dict)  # node name -> the Lava process that runs it (a FusedChain runs several)
    delay_lines: dict = field(default_factory=dict)  # source name -> DelayLine

    @property
    def all_processes(self) -> list:
        return list({id(p): p for p in [*self.processes.values(), *self.delay_lines.values()]}.values())

    @property
    def num_processes(self) -> int:
        return len(self.all_processes)

    @property
    def num_steps(self) -> int:
        """Lava steps for all presentations: one period each, plus the depth for the last to reach the end."""
        return self.time_steps * self.presentations + self.net.max_depth

    def chain_of(self, name: str) -> list[str] | None:
        """The nodes of the fused chain that runs `name`, in signal order (None if it has its own process)."""
        return getattr(self.processes[name], "chain_names", None)

    def out_port(self, name: str, delay: int = 0):
        if delay:
            return self.delay_lines[name].tap(delay)
        proc, chain = self.processes[name], self.chain_of(name)
        if chain:
            if name != chain[-1]:
                raise ValueError(f"{name!r} runs inside the fused chain {proc.name!r}; only its last node has an "
                                 "out port (record the chain's probe, or build with fuse=False)")
            return proc.out_port
        return proc.a_out if hasattr(proc, "a_out") else proc.s_out

    def in_ports(self, name: str) -> list:
        """One in port per input edge of the node (the same port repeated where inputs add up)."""
        node, proc, chain = self.net.nodes[name], self.processes[name], self.chain_of(name)
        if chain:
            return [proc.in_port] * len(node.inputs) if name == chain[0] else []
        if isinstance(node, Attention):
            ports = {"query": proc.q_in, "key": proc.k_in, "value": proc.v_in}
            return [ports[role] for role in node.operands]
        if isinstance(node, Neurons):
            return [proc.a_rec if e.recurrent else proc.a_in for e in node.inputs]
        return [proc.s_in] * len(node.inputs)

    def signal_ports(self, names: list[str]) -> list[tuple[object, list[tuple[str | None, tuple[int, ...]]]]]:
        """Out ports that carry the signals `names` (spikes of neuron groups, outputs of synapses), each with
        the (name, Lava shape) of what it carries in order; a fused chain's probe carries the spikes of all
        its groups, None naming the ones not asked for."""
        ports, probed = [], set()
        for name in names:
            proc, chain = self.processes[name], self.chain_of(name)
            if chain and isinstance(self.net.nodes[name], Neurons):
                if proc.name not in probed:
                    probed.add(proc.name)
                    groups = [n for n in chain if isinstance(self.net.nodes[n], Neurons)]
                    ports.append((proc.probe, [(n if n in names else None, lava_shape(self.net.nodes[n].shape))
                                               for n in groups]))
                continue
            ports.append((self.out_port(name), [(name, lava_shape(signal_shape(self.net.nodes[name])))]))
        return ports


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

    from hw_sim.simulator.processes.neurons import RecurrentLIFReset

    shape = lava_shape(node.shape)
    period = ln.time_steps
    reset = dict(reset_interval=period, reset_offset=(node.depth + 1) % period)  # time_step counts from 1
    if ln.mode == "fixed":
        f = ln.quant.neurons[node.name]
        params = dict(shape=shape, du=f.du, dv=f.dv, vth=f.vth,
                      bias_mant=_to_lava(f.bias_mant, node.shape).astype(np.int32),
                      bias_exp=np.full(shape, f.bias_exp, np.int32), name=node.name, **reset)
        extra = dict(current_bias=_integers(f.current_bias, node.shape), reset_subtrahend=f.reset_subtrahend,
                     recurrent_bias=_integers(f.recurrent_bias, node.shape))
    else:
        vth = node.float_threshold if node.spiking else FLOAT_NEVER_SPIKES
        params = dict(shape=shape, du=node.current_decay, dv=node.decay, vth=vth,
                      bias_mant=_to_lava(node.bias, node.shape), name=node.name, **reset)
        extra = dict(current_bias=_to_lava(node.current_bias, node.shape), reset_subtrahend=node.threshold,
                     recurrent_bias=_to_lava(node.recurrent_bias, node.shape))
    if node.fits_lava_lif_reset:
        return LIFReset(**params)
    return RecurrentLIFReset(subtract=node.reset == "subtract", **extra, **params)


def _integers(x: np.ndarray | None, shape) -> np.ndarray:
    """A fixed-point group's optional integer bias in Lava layout (zeros where it has none)."""
    return _to_lava(np.zeros(shape) if x is None else x, shape).astype(np.int32)


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
    from hw_sim.simulator.processes.ssa import SpikingSelfAttention

    mult = ln.quant.attention[node.name] if ln.mode == "fixed" else 1
    return SpikingSelfAttention(shape=node.shape, num_heads=node.num_heads, scale=node.scale,
                                out_gain=node.gain, multiplier=mult, name=node.name)


PROCESS_BUILDERS = {Input: _build_input, Neurons: _build_neurons, Synapse: _build_synapse,
                    Attention: _build_attention}


def _to_lava(x: np.ndarray, shape) -> np.ndarray:
    from hw_sim.simulator.lowering import to_lava

    return to_lava(np.broadcast_to(x, shape), shape)


def process_models(conv_model: str = "vectorised") -> dict[type, dict[str, type]]:
    """Process class -> {precision tag: ProcessModel class} for every process `build` makes (bar the
    generated DelayLine and Recorder classes, which carry their own)."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.models import PyDenseModelBitAcc, PyDenseModelFloat
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import PySendModelFixed, PySendModelFloat, RingBuffer
    from lava.proc.lif.models import PyLifResetModelBitAcc, PyLifResetModelFloat
    from lava.proc.lif.process import LIFReset
    from lava.proc.monitor.models import PyMonitorModel
    from lava.proc.monitor.process import Monitor

    from hw_sim.simulator.processes import chain, neurons, ssa
    from hw_sim.simulator.processes import conv as fast_conv

    if conv_model == "vectorised":
        conv = {"floating_pt": fast_conv.PyConvModelVectorisedFloat, "fixed_pt": fast_conv.PyConvModelVectorisedFixed}
    elif conv_model == "lava":
        from lava.proc.conv.models import PyConvModelFixed, PyConvModelFloat
        conv = {"floating_pt": PyConvModelFloat, "fixed_pt": PyConvModelFixed}
    else:
        raise ValueError(f"conv_model must be 'vectorised' or 'lava', not {conv_model!r}")
    return {
        RingBuffer: {"floating_pt": PySendModelFloat, "fixed_pt": PySendModelFixed},
        Dense: {"floating_pt": PyDenseModelFloat, "fixed_pt": PyDenseModelBitAcc},
        Conv: conv,
        LIFReset: {"floating_pt": PyLifResetModelFloat, "fixed_pt": PyLifResetModelBitAcc},
        neurons.RecurrentLIFReset: {"floating_pt": neurons.PyRecurrentLifResetModelFloat,
                                    "fixed_pt": neurons.PyRecurrentLifResetModelFixed},
        ssa.SpikingSelfAttention: {"floating_pt": ssa.PySSAModelFloat, "fixed_pt": ssa.PySSAModelFixed},
        chain.FusedChain: {"floating_pt": chain.PyFusedChainModelFloat, "fixed_pt": chain.PyFusedChainModelFixed},
        Monitor: {"floating_pt": PyMonitorModel, "fixed_pt": PyMonitorModel},
    }


def precision_tag(mode: str) -> str:
    return "floating_pt" if mode == "float" else "fixed_pt"


def _fuse(ln: LavaNetwork, chains: list[list[str]], conv_model: str) -> None:
    """Replace the processes of each chain by one FusedChain that runs them (see hw_sim.simulator.processes.chain)."""
    from hw_sim.simulator.processes.chain import FusedChain

    models = process_models(conv_model)
    tag = precision_tag(ln.mode)
    for names in chains:
        members = [(ln.processes[n], models[type(ln.processes[n])][tag]) for n in names]
        chain = FusedChain(members=members, names=names, spiking=[isinstance(ln.net.nodes[n], Neurons) for n in names],
                           name=f"{names[0]} .. {names[-1]}")
        for n in names:
            ln.processes[n] = chain


def build(graph: nir.NIRGraph | Network, mode: str = "float", T: int | None = None,
          quant: Quantization | None = None, dt: float | None = None, presentations: int = 1,
          fuse: bool = True, separate: frozenset[str] = frozenset(), conv_model: str = "vectorised",
          reset: str | None = None) -> LavaNetwork:
    """Lava processes for a graph (or a lowered network), connected; `T` steps per presentation,
    `presentations` inputs (images) back to back in the source, pipelined (see `LavaNetwork`). With `fuse`,
    chains of layers share one process (`hw_sim.simulator.fusion`), except the nodes in `separate`."""
    from hw_sim.simulator.processes.delay import make_delay_line

    if mode not in ("float", "fixed"):
        raise ValueError(f"mode must be 'float' or 'fixed', not {mode!r}")
    net = graph if isinstance(graph, Network) else lower(graph, dt=dt, reset=reset)
    taps = align_branch_delays(net)
    T = T or net.time_steps
    if not T:
        raise ValueError("number of time steps unknown: the graph has no metadata 'time_steps'; pass T=")
    if mode == "fixed" and quant is None:
        raise ValueError("fixed mode needs a Quantization (hw_sim.chip.quantize.quantize(network))")
    ln = LavaNetwork(net, mode, quant, int(T), int(presentations))
    for name, node in net.nodes.items():
        ln.processes[name] = PROCESS_BUILDERS[type(node)](node, ln)
    if fuse:
        _fuse(ln, fusable_chains(net, frozenset(separate)), conv_model)
    for src, delays in taps.items():
        shape = signal_shape(net.nodes[src])
        ln.delay_lines[src] = make_delay_line(lava_shape(shape), delays, name=f"{src}.delay")
        ln.out_port(src).connect(ln.delay_lines[src].in_port)
    for name, node in net.nodes.items():
        if isinstance(node, Input):
            continue
        for edge, port in zip(node.inputs, ln.in_ports(name)):
            reindex(ln.out_port(edge.source, edge.delay), edge.src_shape, edge.dst_shape).connect(port)
    return ln

