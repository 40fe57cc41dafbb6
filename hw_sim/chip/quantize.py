"""Loihi 2 fixed point for a lowered network: scales chosen per layer, and the error they cost.

Formats (lava-nc 0.10.0 fixed_pt models): synaptic input a is an integer, the LIF adds a << 6 to u; with
du = 4095 (hidden +1) u = a << 6 each step (CubaLIF: u <- u * (4095 - du) >> 12 + a << 6);
v <- v * (4096 - dv) >> 12 (sign-magnitude) + u + bias, 24-bit;
spike v > vth << 6; bias = mantissa (13-bit signed) << exponent (0..7). Dense weights are 8-bit with a
shared exponent (mixed signs lose the lowest bit: even values in [-256, 254]) and the accumulated sum is
shifted by weight_exp; Lava's Conv ignores weight_exp, so conv weights are an 8-bit mantissa << e (e >= 0).

Scales: every neuron group gets S = integer input per unit of (gain * I), a power of two, so v in units
of S*64 and vth = threshold*S. Synapses feeding one neuron group (and neuron groups fed by one synapse)
share S; spikes fed straight into neurons force S = 1. S is the largest power of two keeping a worst-case
input below 2^14 and vth within 17 bits. The per-layer relative error of weights, thresholds and biases is
reported. `QuantizationConfig(style="nir-paper")` reproduces the NIR paper's Lava import instead: S = 256,
truncation, dv = int(a*4095), vth = int(th*131071) >> 9. Nothing here runs Lava.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw_sim.simulator.lowering import Attention, Input, Network, Neurons, Synapse, torch_to_lava_weight

MAX_INPUT = 2**14  # worst-case synaptic input per step, in integer units
MAX_VTH = 2**17 - 1


@dataclass(frozen=True)
class QuantizationConfig:
    style: str = "per-layer"  # or "nir-paper"
    input_bits: int = 8  # graded input (the image) as signed integers of this width
    max_scale_log2: int = 16


@dataclass
class FixedNeurons:
    scale: int
    vth: int
    dv: int
    du: int
    bias_mant: np.ndarray  # NIR shape, int
    bias_exp: int


@dataclass
class FixedSynapse:
    weight: np.ndarray  # Lava layout, int: dense [out, in]; conv [C_out, kW, kH, C_in/g]
    weight_exp: int  # Dense only: shift of the accumulated input
    in_scale: float  # integer input units per real input unit
    out_scale: int  # integer output units per real (gain * I)
    error: float  # relative RMS error of the effective weights


@dataclass
class Quantization:
    config: QuantizationConfig
    neurons: dict[str, FixedNeurons] = field(default_factory=dict)
    synapses: dict[str, FixedSynapse] = field(default_factory=dict)
    attention: dict[str, int] = field(default_factory=dict)  # SSA output multiplier
    input_scale: float = 1.0
    report: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> str:
        rows = [f"{name:40s} " + " ".join(f"{k}={v:.3g}" for k, v in r.items()) for name, r in self.report.items()]
        return "\n".join(rows)


def _groups(net: Network) -> list[set[str]]:
    """Neuron groups and synapses that must share one integer scale (union-find over synapse->neuron edges)."""
    parent: dict[str, str] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in net.nodes.values():
        if isinstance(node, (Neurons, Synapse)):
            find(node.name)
        if isinstance(node, (Neurons, Synapse)):  # a neuron group and its synapses; graded co-inputs
            ups = [e.source for e in node.inputs if isinstance(net.nodes[e.source], Synapse)]
            for u in ups:
                parent[find(u)] = find(node.name if isinstance(node, Neurons) else ups[0])
    out: dict[str, set[str]] = {}
    for x in parent:
        out.setdefault(find(x), set()).add(x)
    return list(out.values())


def _lava_real_weight(syn: Synapse) -> np.ndarray:
    """The weight Lava's float model uses: NIR weight * output gain / input gain, in Lava layout."""
    w = syn.weight * (syn.gain / syn.input_gain)
    return torch_to_lava_weight(w) if syn.op == "conv" else w


def _worst_input(syn: Synapse, in_bound: float) -> float:
    w = np.abs(_lava_real_weight(syn))
    per_out = w.sum(axis=1) if syn.op == "dense" else w.sum(axis=(1, 2, 3))
    return float(per_out.max() * in_bound + np.abs(syn.offset).max() * syn.gain)


def quantize(net: Network, config: QuantizationConfig = QuantizationConfig(), input_range: float = 1.0,
             binary_input: bool = False) -> Quantization:
    """Choose integer formats for every node of a lowered network (depths need not be set)."""
    q = Quantization(config)
    paper = config.style == "nir-paper"
    if config.style not in ("per-layer", "nir-paper"):
        raise ValueError(f"unknown quantisation style {config.style!r}; use 'per-layer' or 'nir-paper'")
    if binary_input or paper:
        q.input_scale = 1.0
    else:
        q.input_scale = 2.0 ** math.floor(math.log2((2 ** (config.input_bits - 1) - 1) / max(input_range, 1e-12)))
    # bounds of real signals, in topological order
    bound: dict[str, float] = {}
    for node in net.nodes.values():
        if isinstance(node, Input):
            bound[node.name] = input_range
        elif isinstance(node, Synapse):
            ins = [bound[e.source] if isinstance(net.nodes[e.source], (Input, Synapse)) else 1.0 for e in node.inputs]
            bound[node.name] = _worst_input(node, sum(ins))
        else:
            bound[node.name] = 1.0
    scale: dict[str, int] = {}
    for group in _groups(net):
        members = [net.nodes[m] for m in group]
        forced = any(isinstance(net.nodes[e.source], Neurons)
                     for m in members if isinstance(m, Neurons) for e in m.inputs)
        if paper:
            s = 256
        elif forced:
            s = 1
        else:
            worst = max([bound[m.name] for m in members if isinstance(m, Synapse)] + [1e-12])
            # a synaptic current (du < 1) sums inputs over about 1/du steps
            worst /= min([m.current_decay for m in members if isinstance(m, Neurons)] + [1.0])
            thr = max([m.threshold for m in members if isinstance(m, Neurons) and m.spiking] + [1e-12])
            log2 = min(math.floor(math.log2(MAX_INPUT / worst)), math.floor(math.log2(MAX_VTH / thr)),
                       config.max_scale_log2)
            s = 2 ** max(log2, 0)
        for m in group:
            scale[m] = s
    for node in net.nodes.values():
        if isinstance(node, Synapse):
            _quantize_synapse(q, net, node, scale, paper)
        elif isinstance(node, Neurons):
            _quantize_neurons(q, node, scale[node.name], paper)
        elif isinstance(node, Attention):
            consumer = next(n for n in net.nodes.values() if isinstance(n, Neurons)
                            and any(e.source == node.name for e in n.inputs))
            exact = node.scale * node.gain * scale[consumer.name]
            q.attention[node.name] = int(round(exact))
            q.report[node.name] = {"multiplier": exact, "rel_err": abs(round(exact) - exact) / max(exact, 1e-12)}
    return q


def _input_scale(q: Quantization, net: Network, syn: Synapse, scale: dict[str, int]) -> float:
    src = [net.nodes[e.source] for e in syn.inputs]
    if any(isinstance(s, Input) for s in src):
        return q.input_scale
    ups = {scale[s.name] for s in src if isinstance(s, Synapse)}
    if len(ups) > 1:
        raise ValueError(f"synapse {syn.name!r}: graded inputs of different integer scales {sorted(ups)}")
    return float(ups.pop()) if ups else 1.0


def _quantize_synapse(q: Quantization, net: Network, syn: Synapse, scale: dict[str, int], paper: bool) -> None:
    in_scale = _input_scale(q, net, syn, scale)
    out_scale = scale[syn.name]
    real = _lava_real_weight(syn)
    target = real * out_scale / in_scale
    peak = float(np.abs(target).max()) or 1.0
    mixed = target.min() < 0 < target.max()
    if paper:
        weight, exp, eff = np.trunc(target).astype(np.int32), 0, np.trunc(target)
    elif syn.op == "dense":
        limit = 254 if mixed else 255
        exp = math.ceil(math.log2(peak / limit))
        step = 2.0**exp * (2 if mixed else 1)
        mant = np.clip(np.round(target / step), -128 if mixed else -255, 127 if mixed else 255)
        weight = (mant * (2 if mixed else 1)).astype(np.int32)
        eff = mant * step
    else:
        exp = max(0, math.ceil(math.log2(peak / 127)))
        mant = np.clip(np.round(target / 2.0**exp), -128, 127)
        weight = (mant.astype(np.int64) << exp).astype(np.int32)
        eff, exp = mant * 2.0**exp, 0
    err = float(np.linalg.norm(eff - target) / max(np.linalg.norm(target), 1e-12))
    q.synapses[syn.name] = FixedSynapse(weight, int(exp), in_scale, out_scale, err)
    q.report[syn.name] = {"scale": out_scale, "weight_rel_err": err}


def integer_threshold(units: float, firing_rule: str) -> int:
    """vth for the chip's rule v > vth << 6, given the threshold in integer input units (threshold * S).

    ">": floor(units), so that v > vth << 6 is exactly v > units * 64 for every state v that is a whole
    number of input units (a multiple of 64). ">=" (the reference's v >= threshold): ceil(units) - 1, so
    that for those states v > vth << 6 is exactly v >= units * 64, ties included. Not exact for a state
    off that grid (the decay's truncation leaves fractions of a unit) lying within one unit below the
    threshold: the chip fires there, the rule would not. The chip cannot do better: its comparison is
    strict and its threshold a multiple of 64.
    """
    if firing_rule == ">=":
        return int(math.ceil(units)) - 1
    return int(math.floor(units))


def _quantize_neurons(q: Quantization, node: Neurons, s: int, paper: bool) -> None:
    if paper:
        dv = int(node.decay * 4095)
        vth = int(node.threshold * 131071) >> 9 if node.spiking else MAX_VTH
    else:
        dv = min(4095, int(round(node.decay * 4096)))
        vth = min(MAX_VTH, integer_threshold(node.threshold * s, node.firing_rule)) if node.spiking else MAX_VTH
    bias_v = node.bias * s * 64
    exp = 0
    while exp < 7 and np.abs(np.round(bias_v / 2**exp)).max(initial=0) > 4095:
        exp += 1
    mant = np.clip(np.round(bias_v / 2**exp), -4096, 4095).astype(np.int32)
    tie_point = vth + 1 if node.firing_rule == ">=" else vth  # the integer threshold the rule compares with
    thr_err = abs(tie_point - node.threshold * s) / max(node.threshold * s, 1e-12) if node.spiking else 0.0
    bias_err = float(np.abs(mant * 2**exp - bias_v).max(initial=0) / (s * 64))
    du = 4095 if node.current_decay >= 1 else max(0, int(round(node.current_decay * 4096)) - 1)  # Lava adds 1
    q.neurons[node.name] = FixedNeurons(s, vth, dv, du, mant, exp)
    q.report[node.name] = {"scale": s, "vth": vth, "threshold_rel_err": thr_err, "bias_abs_err": bias_err,
                           "decay_err": abs(dv / 4096 - node.decay) if node.decay < 1 else 0.0}

