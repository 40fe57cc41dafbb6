"""The bit-exact reference for fixed-point Lava runs: the same integer arithmetic in plain numpy.

Step for step it does what lava-nc 0.10.0's fixed_pt models do (PyLifModelBitAcc, PyDenseModelBitAcc,
PyConvModelFixed, the RingBuffer source) and what our SSA and DelayLine fixed models do, including the
one-step synapse buffers, the delay lines, LIFReset's zeroing of u and v at each group's depth (the bias
acts from step 0), sign-magnitude decay, 24-bit wrap of u and of conv outputs and the clip of v. `mode="float"` runs the same schedule in float64 as
Lava's floating_pt models do (a cross-check, not an independent reference). No Lava is imported.
"""

from __future__ import annotations

import numpy as np

from hw_sim.chip.quantize import Quantization
from hw_sim.simulator.delays import align_branch_delays
from hw_sim.simulator.lowering import (
    Attention,
    Input,
    Network,
    Neurons,
    Synapse,
    as_3d,
    from_lava,
    lava_shape,
    signal_shape,
)
from hw_sim.simulator.processes.ssa import attention_counts, signed_clamp

MAX_UV = 2**23


def _lif_fixed(u, v, a, f):
    decayed_u = u.astype(np.int64) * (4096 - (f.du + 1))
    decayed_u = np.sign(decayed_u) * (np.abs(decayed_u) >> 12)
    u = decayed_u + (a.astype(np.int64) << 6)
    u = np.where(u > MAX_UV, u - 2 * MAX_UV, u)
    u = np.where(u <= -MAX_UV, u + 2 * MAX_UV, u)
    decayed_v = v.astype(np.int64) * (4096 - f.dv)
    decayed_v = np.sign(decayed_v) * (np.abs(decayed_v) >> 12)
    bias = f.bias_mant.astype(np.int64) << f.bias_exp
    v = np.clip(decayed_v + u + bias, -MAX_UV + 1, MAX_UV - 1)
    spikes = v > (f.vth << 6)
    return u, np.where(spikes, 0, v), spikes


def _lif_float(u, v, a, node: Neurons):
    u = u * (1 - node.current_decay) + a
    v = v * (1 - node.decay) + u + node.bias
    thr = node.float_threshold if node.spiking else 1e30
    spikes = v > thr
    return u, np.where(spikes, 0.0, v), spikes


def _synapse_fixed(node: Synapse, fs, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int64)
    if node.op == "dense":
        acc = fs.weight.astype(np.int64) @ x.reshape(-1)
        acc = acc << fs.weight_exp if fs.weight_exp > 0 else acc >> -fs.weight_exp
        return acc.reshape(node.out_shape)
    from hw_sim.simulator.processes.conv import lava_conv

    xl = x.reshape(as_3d(node.in_shape)).transpose(2, 1, 0)
    out = lava_conv(xl, fs.weight, node.stride[::-1], node.padding[::-1], node.dilation[::-1], node.groups)
    return signed_clamp(out, 24).transpose(2, 1, 0).reshape(node.out_shape)


def _synapse_float(node: Synapse, x: np.ndarray) -> np.ndarray:
    return node.apply(x) * (node.gain / node.input_gain)


def simulate_reference(net: Network, data: np.ndarray, T: int, mode: str = "fixed",
                       quant: Quantization | None = None) -> dict[str, np.ndarray]:
    """Outputs of every node at every Lava step: {node: [B, L, *NIR shape]} for RingBuffer data
    [B, *Lava input shape, L] (as `hw_sim.simulator.simulation.encode` makes it). Spikes are 0/1, synapse outputs integers
    (fixed) or floats."""
    if mode == "fixed" and quant is None:
        raise ValueError("fixed mode needs the Quantization used for the Lava run")
    align_branch_delays(net)
    L = T + net.max_depth
    out: dict[str, np.ndarray] = {}
    B = data.shape[0]
    for name, node in net.nodes.items():
        shape = signal_shape(node)
        out[name] = np.zeros((B, L, *shape), dtype=np.int64 if mode == "fixed" else np.float64)
    for b in range(B):
        state = {n: (np.zeros(node.shape, np.int64 if mode == "fixed" else np.float64),) * 2
                 for n, node in net.nodes.items() if isinstance(node, Neurons)}
        buf = {n: np.zeros(node.out_shape) for n, node in net.nodes.items() if isinstance(node, Synapse)}
        for s in range(L):
            for name, node in net.nodes.items():
                if isinstance(node, Input):
                    out[name][b, s] = from_lava(data[b, ..., s], node.shape)
                    continue

                def edge_value(e, b=b, s=s):
                    t = s - e.delay
                    if t < 0:
                        return np.zeros(e.dst_shape)
                    return out[e.source][b, t].reshape(e.dst_shape)

                if isinstance(node, Synapse):
                    out[name][b, s] = buf[name]
                    x = sum(edge_value(e) for e in node.inputs)
                    buf[name] = (_synapse_fixed(node, quant.synapses[name], x) if mode == "fixed"
                                 else _synapse_float(node, x))
                elif isinstance(node, Neurons):
                    a = sum(edge_value(e) for e in node.inputs)
                    u, v = state[name]
                    if s == node.depth:  # LIFReset: the group starts here
                        u, v = np.zeros_like(u), np.zeros_like(v)
                    if mode == "fixed":
                        u, v, z = _lif_fixed(u, v, np.asarray(a, np.int64), quant.neurons[name])
                    else:
                        u, v, z = _lif_float(u, v, a, node)
                    state[name] = (u, v)
                    out[name][b, s] = z
                elif isinstance(node, Attention):
                    q, k, v = (edge_value(node.operands[r]) for r in ("query", "key", "value"))
                    counts = attention_counts(q, k, v, node.num_heads)
                    out[name][b, s] = (signed_clamp(counts.astype(np.int64) * quant.attention[name], 24)
                                       if mode == "fixed" else counts * node.scale * node.gain)
    return out


def reference_spikes(net: Network, outputs: dict[str, np.ndarray], T: int) -> dict[str, np.ndarray]:
    """Spikes of every neuron group shifted by depth, as `SimulationResult.spikes`: [T, B, *shape]."""
    return {n: outputs[n][:, node.depth:node.depth + T].swapaxes(0, 1).astype(np.uint8)
            for n, node in net.nodes.items() if isinstance(node, Neurons)}


__all__ = ["simulate_reference", "reference_spikes", "lava_shape"]
