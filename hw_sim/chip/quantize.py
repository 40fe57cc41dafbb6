"""Loihi 2 fixed point for a lowered network: which nodes share a scale, the scales, and every integer.

The formats and the per-group scale rule are `snnpar.loihi2.formats` (one definition, also used by QAT);
this module applies them to a graph. Synapses feeding one neuron group, and neuron groups fed by one
synapse, share a scale S (union-find); spikes fed straight into neurons force S = 1. The worst-case input
of a neuron is the sum of the bounds of everything feeding it (residual fan-in, the SSA product).

A synapse whose group has no neurons (a pool or any scale-only node feeding another synapse, a readout
layer) has a free scale. It is chosen jointly with its consumers: the power of two that quantises the
chain with the least weight error (so a SumPool2d before a conv keeps the conv's weights). Dense weights
take the exponent the chip gives them; Conv weights an 8-bit mantissa << e (Lava's Conv has no negative
exponent). A layer whose weights quantise to (nearly) all zero, or whose state would saturate, is a
`UserError` naming the node and what would work, never a silent result.

The worst-case bound can be far above what a network ever sees (a residual stream summing sixteen
synapses): `calibrate` measures the float network (the NIR executor) on a few images and `quantize(...,
calibration=)` then sizes every group by the input it really gets (`snnpar.loihi2.formats.group_scale`,
calibrated), the largest one seen staying below the wrap. Without it the worst-case rule is unchanged.

Formats can also be given (`formats=`: the scales a QAT checkpoint trained with, from the graph's metadata
`loihi2`): then every integer follows from them by the same rules. `QuantizationConfig(style="nir-paper")`
reproduces the NIR paper's Lava import instead: S = 256, truncation, dv = int(a*4095), vth =
int(th*131071) >> 9. Nothing here runs Lava.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from hw_sim.simulator.lowering import Attention, Input, Network, Neurons, Synapse, torch_to_lava_weight
from snnpar.errors import UserError
from snnpar.loihi2 import formats as F
from snnpar.loihi2.formats import FORMATS_KEY, FORMATS_VERSION, formats_metadata  # noqa: F401 (the formats entry)

MAX_INPUT = F.MAX_INPUT  # worst-case synaptic input per step, in integer units
MAX_VTH = F.VTH_MAX
ZEROED_LIMIT = 0.5  # a synapse losing more of its non-zero weights than this is refused


@dataclass(frozen=True)
class QuantizationConfig:
    style: str = "per-layer"  # or "nir-paper"
    input_bits: int = F.INPUT_BITS  # graded input (the image) as signed integers of this width
    max_scale_log2: int = F.MAX_SCALE_LOG2


@dataclass
class FixedNeurons:
    scale: int
    vth: int
    dv: int
    du: int
    bias_mant: np.ndarray  # NIR shape, int
    bias_exp: int
    current_bias: np.ndarray | None = None  # NIR shape, int, units of u (mantissa << exponent); None: none
    recurrent_bias: np.ndarray | None = None  # the same, from the group's second step of each period
    reset_subtrahend: int = 0  # reset by subtraction: v <- v - this

    def format(self) -> F.NeuronFormat:
        """The same parameters as torch's `snnpar.loihi2.formats.NeuronFormat` (for the integer evaluator)."""
        return F.NeuronFormat(self.scale, self.vth, self.dv, self.du, _tensor(self.bias_mant), self.bias_exp,
                              _tensor(self.current_bias), _tensor(self.recurrent_bias), self.reset_subtrahend)


@dataclass
class FixedSynapse:
    weight: np.ndarray  # Lava layout, int: dense [out, in]; conv [C_out, kW, kH, C_in/g]
    weight_exp: int  # Dense only: shift of the accumulated input
    in_scale: float  # integer input units per real input unit
    out_scale: int  # integer output units per real (gain * I)
    error: float  # relative RMS error of the effective weights
    nir_weight: np.ndarray | None = None  # the same integers in NIR (torch) layout


@dataclass
class Quantization:
    config: QuantizationConfig
    neurons: dict[str, FixedNeurons] = field(default_factory=dict)
    synapses: dict[str, FixedSynapse] = field(default_factory=dict)
    attention: dict[str, int] = field(default_factory=dict)  # SSA output multiplier
    input_scale: float = 1.0
    report: dict[str, dict[str, float]] = field(default_factory=dict)
    trained: bool = False  # scales came from a QAT checkpoint, not from the rule
    rule: str = "worst-case"  # or "calibrated" (`calibrate`)

    def summary(self) -> str:
        rows = [f"{name:40s} " + " ".join(f"{k}={v:.3g}" for k, v in r.items()) for name, r in self.report.items()]
        return "\n".join(rows)

    def scales(self) -> dict[str, int]:
        """Scale of every neuron group and synapse, by node name (what `formats_metadata` stores)."""
        return {**{n: int(s.out_scale) for n, s in self.synapses.items()},
                **{n: int(f.scale) for n, f in self.neurons.items()}}


@dataclass(frozen=True)
class Calibration:
    """What the float network does on calibration images, per node in real units (a synapse's or attention's
    output without its offset, a neuron group's input per step): |value| at `percentile` (the largest over the
    images of each image's percentile) and the largest |value| seen."""

    typical: dict[str, float]
    peak: dict[str, float]
    images: int
    percentile: float


def calibrate(graph, net: Network, images, T: int | None = None, dt: float | None = None,
              percentile: float = F.CALIBRATION_PERCENTILE) -> Calibration:
    """Run the float network (`export.executor.run_graph` on `graph`, the NIR graph `net` was lowered from)
    on `images` ([B, *input] or [T, B, *input], as run_graph takes them), one image at a time, and measure
    every synapse, attention and neuron input in the units the scale rule works in."""
    from export.executor import SilentLayerWarning, run_graph

    keep = [n for n, node in net.nodes.items() if isinstance(node, (Synapse, Attention))]
    x = torch.as_tensor(np.asarray(images), dtype=torch.float64)
    sequence = x.ndim == len(net.input.shape) + 2
    count = x.shape[1] if sequence else x.shape[0]
    typical: dict[str, float] = {}
    peak: dict[str, float] = {}
    for b in range(count):
        with warnings.catch_warnings():  # a layer silent on one calibration image is measured, not a problem
            warnings.simplefilter("ignore", SilentLayerWarning)
            out = run_graph(graph, x[:, b:b + 1] if sequence else x[b:b + 1], T=T, dt=dt, keep=keep)
        real = {}
        for name in keep:
            node = net.nodes[name]
            offset = torch.as_tensor(node.offset, dtype=torch.float64) if isinstance(node, Synapse) else 0.0
            real[name] = node.gain * (out[name] - offset)
        for name, node in net.nodes.items():
            if isinstance(node, Neurons):
                terms = [real[e.source].reshape(-1, 1, *e.dst_shape) if e.source in real else None
                         for e in node.inputs]
                if any(t is None for t in terms):  # spikes straight into neurons: the group's scale is 1
                    continue
                real[name] = sum(terms[1:], terms[0])
        for name, values in real.items():
            typical[name] = max(typical.get(name, 0.0), F.calibrated_magnitude(values, percentile))
            peak[name] = max(peak.get(name, 0.0), float(values.abs().max()))
    return Calibration(typical, peak, count, percentile)


def trained_formats(net: Network) -> dict | None:
    """The formats a graph says it was trained with (metadata `loihi2`), or None."""
    meta = (net.metadata or {}).get(FORMATS_KEY)
    if not meta:
        return None
    if int(meta.get("version", 0)) != FORMATS_VERSION or "scales" not in meta:
        raise UserError(f"the graph's metadata {FORMATS_KEY!r} is not format version {FORMATS_VERSION}; re-export the "
                        "QAT checkpoint with this version of snnpar")
    return meta


def nominal_input_range(normalization: dict | None) -> float | None:
    """Largest |normalised pixel| for pixels in [0, 1] (None without a normalisation): the input scale then
    depends on the graph, not on the images of one run."""
    if not normalization:
        return None
    return max(max(abs(0 - m), abs(1 - m)) / s for m, s in zip(normalization["mean"], normalization["std"]))


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
            ups = [e.source for e in node.inputs if isinstance(net.nodes[e.source], Synapse)]
            for u in ups:  # a neuron group and its synapses; graded co-inputs of a synapse
                parent[find(u)] = find(node.name if isinstance(node, Neurons) else ups[0])
    out: dict[str, set[str]] = {}
    for x in parent:
        out.setdefault(find(x), set()).add(x)
    return list(out.values())


def _lava_real_weight(syn: Synapse) -> np.ndarray:
    """The weight Lava's float model uses: NIR weight * output gain / input gain, in Lava layout."""
    w = syn.weight * (syn.gain / syn.input_gain)
    return torch_to_lava_weight(w) if syn.op == "conv" else w


def _worst_output(syn: Synapse, in_bound: float) -> float:
    w = np.abs(syn.weight) * (syn.gain / syn.input_gain)
    per_out = w.sum(axis=1) if syn.op == "dense" else w.sum(axis=(1, 2, 3))
    return float(per_out.max() * in_bound + np.abs(syn.offset).max() * syn.gain)


def _bounds(net: Network, input_range: float) -> dict[str, float]:
    """Worst-case magnitude of every node's output, in real units (gain * I for synapses and attention)."""
    bound: dict[str, float] = {}
    for node in net.nodes.values():
        if isinstance(node, Input):
            bound[node.name] = input_range
        elif isinstance(node, Synapse):
            bound[node.name] = _worst_output(node, sum(bound[e.source] for e in node.inputs))
        elif isinstance(node, Attention):
            channels, tokens = node.shape
            bound[node.name] = channels // node.num_heads * tokens * abs(node.scale * node.gain)
        else:
            bound[node.name] = 1.0  # spikes
    return bound


def _neuron_input_bound(net: Network, node: Neurons, bound: dict[str, float]) -> float:
    return sum(bound[e.source] * (node.gain if isinstance(net.nodes[e.source], Neurons) else 1.0)
               for e in node.inputs)


def quantize(net: Network, config: QuantizationConfig = QuantizationConfig(), input_range: float = 1.0,
             binary_input: bool = False, formats: dict | None = None,
             calibration: Calibration | None = None) -> Quantization:
    """Choose integer formats for every node of a lowered network (depths need not be set). `formats`
    (default: the graph's metadata `loihi2`, if any) fixes the scales, as a QAT checkpoint trained them;
    `calibration` (from `calibrate`) sizes the scales by measured inputs instead of worst-case bounds."""
    if config.style not in ("per-layer", "nir-paper"):
        raise ValueError(f"unknown quantisation style {config.style!r}; use 'per-layer' or 'nir-paper'")
    paper = config.style == "nir-paper"
    formats = formats if formats is not None else (None if paper else trained_formats(net))
    q = Quantization(config, trained=formats is not None)
    calibrated = calibration is not None and formats is None and not paper
    if calibrated:
        q.rule = "calibrated"
    if formats is not None:
        q.input_scale = float(formats["input_scale"])
    elif binary_input or paper:
        q.input_scale = 1.0
    else:
        q.input_scale = F.input_scale(input_range, config.input_bits)
    bound = _bounds(net, input_range)
    if formats is not None:
        scale = _given_scales(net, formats)
    elif paper:
        scale = {n: 256 for n, node in net.nodes.items() if isinstance(node, (Neurons, Synapse))}
    else:
        scale = _rule_scales(net, bound, config, q, calibration if calibrated else None)
    for node in net.nodes.values():
        if isinstance(node, Synapse):
            _quantize_synapse(q, net, node, scale, paper)
        elif isinstance(node, Neurons):
            _quantize_neurons(q, node, scale[node.name], paper)
            if not paper:
                _check_saturation(net, node, bound, scale[node.name], q.trained, calibration if calibrated else None)
        elif isinstance(node, Attention):
            consumer = next(n for n in net.nodes.values() if isinstance(n, Neurons)
                            and any(e.source == node.name for e in n.inputs))
            exact = node.scale * node.gain * scale[consumer.name]
            q.attention[node.name] = F.attention_multiplier(node.scale, node.gain, scale[consumer.name])
            q.report[node.name] = {"multiplier": exact, "rel_err": abs(round(exact) - exact) / max(exact, 1e-12)}
    return q


def _given_scales(net: Network, formats: dict) -> dict[str, int]:
    given = formats["scales"]
    missing = [n for n, node in net.nodes.items() if isinstance(node, (Neurons, Synapse)) and n not in given]
    if missing:
        raise UserError(f"the graph's trained Loihi 2 formats name no scale for {missing[:3]}: the graph was changed "
                        "after export; re-export the QAT checkpoint")
    return {n: int(given[n]) for n in net.nodes if n in given}


def _rule_scales(net: Network, bound: dict[str, float], config: QuantizationConfig, q: Quantization,
                 calibration: Calibration | None = None) -> dict[str, int]:
    scale: dict[str, int] = {}
    typical = bound if calibration is None else {**bound, **calibration.typical}
    free: list[set[str]] = []
    for group in _groups(net):
        members = [net.nodes[m] for m in group]
        neurons = [m for m in members if isinstance(m, Neurons)]
        if not neurons:
            free.append(group)
        forced = any(isinstance(net.nodes[e.source], Neurons) for m in neurons for e in m.inputs)
        worst = max([_neuron_input(net, m, bound, calibration) for m in neurons]
                    + [typical[m.name] for m in members if isinstance(m, Synapse)])
        peak = None if calibration is None else max(calibration.peak.get(m.name, 0.0) for m in members)
        thr = max([m.threshold for m in neurons if m.spiking] + [1e-12])
        s = F.group_scale(worst, thr, min([m.current_decay for m in neurons] + [1.0]), forced, config.max_scale_log2,
                          peak)
        for m in group:
            scale[m] = s
    for group in free:  # in topological order of their first member: upstream free scales are settled first
        _choose_free_scale(net, group, typical, scale, q, calibration)
    return scale


def _neuron_input(net: Network, node: Neurons, bound: dict[str, float], calibration: Calibration | None) -> float:
    """The input the rule sizes a group by: worst case, or measured (groups fed spikes directly have none)."""
    if calibration is not None and node.name in calibration.typical:
        return calibration.typical[node.name]
    return _neuron_input_bound(net, node, bound)


def _consumers(net: Network, name: str) -> list[Synapse]:
    return [n for n in net.nodes.values() if isinstance(n, Synapse) and any(e.source == name for e in n.inputs)]


def _choose_free_scale(net: Network, group: set[str], bound: dict[str, float], scale: dict[str, int],
                       q: Quantization, calibration: Calibration | None = None) -> None:
    """A scale-only group: the power of two within the output bound that quantises it and the synapses it
    feeds with the least weight error. Near-ties go to the smaller scale where synapses consume it (their
    sums then need no right shift, which floors), to the larger one where only the readout does (finer)."""
    members = [net.nodes[m] for m in group]
    consumers = [c for m in members for c in _consumers(net, m.name) if c.name not in group]
    worst = max(bound[m.name] for m in members)
    limit = MAX_INPUT if consumers else F.STATE_LIMIT // 2  # the readout takes messages of up to 24 bits
    top = min(F.MAX_SCALE_LOG2, math.floor(math.log2(limit / max(worst, 1e-12))))
    if calibration is not None:  # the largest message seen stays inside 24 bits
        peak = max(calibration.peak.get(m.name, 0.0) for m in members)
        top = min(top, math.ceil(math.log2(F.STATE_LIMIT / max(peak, 1e-12))) - 1)
    best: list[tuple[float, int]] = []
    for log2 in range(0, max(top, 0) + 1):
        trial = {**scale, **{m: 2**log2 for m in group}}
        err = max(_weight_error(net, syn, trial, q) for syn in [*members, *consumers])
        best.append((err, 2**log2))
    least = min(err for err, _ in best)
    near = [s for err, s in best if err <= least * 1.05 + 1e-9]
    chosen = min(near) if consumers else max(near)
    for m in group:
        scale[m] = chosen


def _input_scale(q: Quantization, net: Network, syn: Synapse, scale: dict[str, int]) -> float:
    src = [net.nodes[e.source] for e in syn.inputs]
    if any(isinstance(s, Input) for s in src):
        return q.input_scale
    ups = {scale[s.name] for s in src if isinstance(s, Synapse)}
    if len(ups) > 1:
        raise ValueError(f"synapse {syn.name!r}: graded inputs of different integer scales {sorted(ups)}")
    return float(ups.pop()) if ups else 1.0


def _target(syn: Synapse, in_scale: float, out_scale: int) -> torch.Tensor:
    return F.weight_target(torch.as_tensor(syn.weight, dtype=torch.float64), syn.gain, syn.input_gain,
                           out_scale, in_scale)


def _weight_error(net: Network, syn: Synapse, scale: dict[str, int], q: Quantization) -> float:
    target = _target(syn, _input_scale(q, net, syn, scale), scale[syn.name])
    return F.relative_error(F.weight_format(syn.op, target).effective, target)


def _quantize_synapse(q: Quantization, net: Network, syn: Synapse, scale: dict[str, int], paper: bool) -> None:
    in_scale = _input_scale(q, net, syn, scale)
    out_scale = scale[syn.name]
    if paper:
        target = _lava_real_weight(syn) * out_scale / in_scale
        weight = np.trunc(target).astype(np.int32)
        err = float(np.linalg.norm(np.trunc(target) - target) / max(np.linalg.norm(target), 1e-12))
        q.synapses[syn.name] = FixedSynapse(weight, 0, in_scale, out_scale, err)
        q.report[syn.name] = {"scale": out_scale, "weight_rel_err": err}
        return
    target = _target(syn, in_scale, out_scale)
    fmt = F.weight_format(syn.op, target)
    err = F.relative_error(fmt.effective, target)
    zeroed = F.zeroed_fraction(fmt, target)
    if zeroed > ZEROED_LIMIT:
        raise UserError(
            f"synapse {syn.name!r}: {100 * zeroed:.0f}% of its non-zero weights quantise to 0 on Loihi 2 (integer "
            f"scale {out_scale} out, {in_scale:g} in; largest |weight| {float(target.abs().max()):.3g} integer units); "
            + ("its layer would be cut. The scale is the largest that the input measured on the calibration images "
               "allows (a layer whose weights span a smaller range would fit)" if q.rule == "calibrated" else
               "its layer would be cut. The scale is the largest that the worst-case input bound of the group allows; "
               "calibrate the scales on a few images (hw_sim.chip.quantize.calibrate, quantize(..., calibration=)), "
               "or use a layer whose weights span a smaller range, or a smaller fan-in into the group"))
    nir_weight = fmt.weight.numpy().astype(np.int64)
    weight = torch_to_lava_weight(nir_weight) if syn.op == "conv" else nir_weight
    q.synapses[syn.name] = FixedSynapse(weight.astype(np.int32), int(fmt.exp), in_scale, out_scale, err, nir_weight)
    q.report[syn.name] = {"scale": out_scale, "weight_rel_err": err, "zeroed": zeroed}


def _quantize_neurons(q: Quantization, node: Neurons, s: int, paper: bool) -> None:
    if paper:
        dv = int(node.decay * 4095)
        vth = int(node.threshold * 131071) >> 9 if node.spiking else MAX_VTH
        du = F.current_decay(node.current_decay)
        mant, exp, _ = F.bias_format(torch.as_tensor(node.bias * s * 64, dtype=torch.float64))
        fmt = F.NeuronFormat(s, vth, dv, du, mant, exp, F.current_bias_format(_tensor(node.current_bias), s),
                             F.current_bias_format(_tensor(node.recurrent_bias), s),
                             F.reset_subtrahend(node.threshold, s) if node.spiking else 0)
    else:
        fmt = F.neuron_format(node.threshold, node.decay, node.current_decay,
                              torch.as_tensor(node.bias, dtype=torch.float64), s, node.spiking, node.firing_rule,
                              _tensor(node.current_bias), _tensor(node.recurrent_bias))
    bias_v = node.bias * s * 64
    thr_err = F.threshold_error(node.threshold, s, fmt.vth, node.firing_rule) if node.spiking else 0.0
    bias_err = float(np.abs(fmt.bias.numpy() - bias_v).max(initial=0) / (s * 64))
    integer = lambda x: None if x is None else x.numpy().astype(np.int32)  # noqa: E731
    q.neurons[node.name] = FixedNeurons(s, fmt.vth, fmt.dv, fmt.du, fmt.bias_mantissa.numpy().astype(np.int32),
                                        fmt.bias_exp,
                                        integer(fmt.current_bias), integer(fmt.recurrent_bias), fmt.reset_subtrahend)
    q.report[node.name] = {"scale": s, "vth": fmt.vth, "threshold_rel_err": thr_err, "bias_abs_err": bias_err,
                           "decay_err": abs(fmt.dv / 4096 - node.decay) if node.decay < 1 else 0.0}


def _tensor(x: np.ndarray | None) -> torch.Tensor | None:
    """float64 torch values of an optional array (integers and NIR parameters are exact in float64)."""
    return None if x is None else torch.as_tensor(np.asarray(x), dtype=torch.float64)


def _check_saturation(net: Network, node: Neurons, bound: dict[str, float], s: int, trained: bool,
                      calibration: Calibration | None = None) -> None:
    """The chip's hard limit: an input |a| of 2^17 or more wraps u (a << 6 leaves 24 bits). Calibrated: the
    largest input seen on the calibration images (the rule keeps it below; a group fed spikes directly is
    checked by its worst case)."""
    if calibration is not None and node.name in calibration.peak:
        worst = calibration.peak[node.name] / min(node.current_decay, 1.0) * s
    else:
        worst = _neuron_input_bound(net, node, bound) / min(node.current_decay, 1.0) * s
    if worst >= F.HARD_MAX_INPUT:
        origin = "trained with" if trained else "forced to"
        raise UserError(
            f"neuron group {node.name!r}: its worst-case input of {worst:.3g} integer units per step at scale {s} "
            f"({origin} that scale) would saturate the chip's 24-bit state (limit {F.HARD_MAX_INPUT}); put a synapse "
            "before it that scales its input down, or lower its incoming weights")


def effective_weight(net: Network, quant: Quantization, name: str) -> np.ndarray:
    """The real weight (NIR layout, units of the NIR graph) that synapse `name` applies on the chip: its
    integers * 2^exponent, back through its scales and gains. A float run of the graph with these weights is
    the chip's run wherever every sum is a whole number of units (spike inputs, weight exponent >= 0): what
    remains between the chip and float is then weight rounding alone."""
    syn, fixed = net.nodes[name], quant.synapses[name]
    real = fixed.nir_weight * 2.0**fixed.weight_exp * fixed.in_scale / fixed.out_scale
    return real * syn.input_gain / syn.gain


def signal_unit(net: Network, quant: Quantization | None, name: str) -> float:
    """Integer units per real unit of what node `name` hands the readout (1 for spikes; v of a non-spiking
    group counts S * 64 per unit; a synapse S * gain)."""
    node = net.nodes[name]
    if isinstance(node, Neurons):
        return float(quant.neurons[name].scale * 2**F.ACTIVATION_SHIFT) if quant and not node.spiking else 1.0
    return node.gain * (quant.synapses[name].out_scale if quant else 1.0)
