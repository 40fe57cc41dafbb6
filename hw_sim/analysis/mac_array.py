"""The fair footing for SNN vs ANN: a 45 nm MAC array that pays for arithmetic and for SRAM traffic.

The Spikformer family compares an SNN's accumulates with an ANN's multiply-accumulates at 45 nm and
stops there; once memory access and an 8-bit ANN are counted the comparison can flip (Dampfhoffer et al.,
IEEE TETCI 2023; Yan et al. 2024, arXiv 2409.08290). This module prices both kinds of network on the same
array, with the same rules, from Horowitz (ISSCC 2014, 45 nm):

- arithmetic: int8 multiply 0.2 pJ + add 0.03 pJ (MAC 0.23 pJ, AC 0.03 pJ); fp32 multiply 3.7 pJ + add
  0.9 pJ (MAC 4.6 pJ, AC 0.9 pJ);
- SRAM: one 64-bit read of an 8 KB / 32 KB / 1 MB array costs 10 / 20 / 100 pJ; 32 KB is the typical
  figure, 8 KB and 1 MB the band (a write is priced as a read). DRAM (1.3-2.6 nJ per 64 bits) is left out:
  every weight is assumed to sit in on-chip SRAM, which favours the larger network.

ANN, per image: every MAC once; every weight read once; every activation a layer reads, read once, and
every activation it writes, written once (an array that keeps partial sums in registers).
SNN on the same array, per image: every synaptic event is an accumulate, every real-valued input (the
encoder) a MAC, every neuron update (v += (x - v) / tau: one multiply-add) a MAC; each step reads every
weight once (the array streams the layer's weights each step), reads the layer's inputs (a spike is one
bit, a real value one word), writes its outputs, and reads and writes every membrane potential.
Work that does not depend on the image (the teacher's text encoder on its 26 fixed sentences) is priced
once, apart (`once_*`), not per image.

It does not count operations from spikes (`hw_sim.analysis.energy`, `hw_sim.analysis.spikformer_energy`)
and it does not model a neuromorphic chip (`hw_sim.analysis.chip_energy`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

PICO = 1e-12
HOROWITZ = "Horowitz, '1.1 Computing's energy problem (and what we can do about it)', ISSCC 2014 (45 nm)"


@dataclass(frozen=True)
class Arithmetic:
    """One number format on the array: energy of a MAC and an accumulate (pJ), bytes per value."""

    name: str
    mac_pj: float
    add_pj: float
    bytes_per_value: int


ARITHMETIC = {
    "int8": Arithmetic("int8", mac_pj=0.2 + 0.03, add_pj=0.03, bytes_per_value=1),
    "fp32": Arithmetic("fp32", mac_pj=3.7 + 0.9, add_pj=0.9, bytes_per_value=4),
}
# pJ per 64-bit SRAM read, by array size (Horowitz 2014): the band's low, typical and high
SRAM_PJ_PER_64_BITS = {"low": 10.0, "typical": 20.0, "high": 100.0}
SRAM_SIZES = {"low": "8 KB", "typical": "32 KB", "high": "1 MB"}
BANDS = ("low", "typical", "high")


def sram_pj_per_byte(band: str) -> float:
    return SRAM_PJ_PER_64_BITS[band] / 8.0


# ---------------------------------------------------------------- counting a network's work and traffic


@dataclass
class NetworkCost:
    """Work of one network per image, and the image-independent work done once (elements, not bytes)."""

    name: str
    parameters: int
    macs: float = 0.0
    weight_reads: float = 0.0
    activations: float = 0.0  # activations read + written
    once_macs: float = 0.0
    once_weight_reads: float = 0.0
    once_activations: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Call:
    macs: float
    weights: float
    activations: float
    output_numel: int


class _Trace(TorchDispatchMode):
    """Linear/Conv calls (by module hooks) and matrix products outside them (by dispatch), in call order."""

    def __init__(self):
        super().__init__()
        self.calls: list[_Call] = []
        self.depth = 0  # > 0 while inside a Linear/Conv call (its matmul is the module's, counted by the hook)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.depth == 0 and func.overloadpacket in _MATMULS:
            a, b = args[1:3] if func.overloadpacket in _ADD_MATMULS else args[:2]
            self.calls.append(_Call(macs=float(out.numel() * a.shape[-1]), weights=0.0,
                                    activations=float(a.numel() + b.numel() + out.numel()), output_numel=out.numel()))
        return out


_MATMULS = {torch.ops.aten.mm, torch.ops.aten.bmm, torch.ops.aten.addmm, torch.ops.aten.baddbmm}
_ADD_MATMULS = {torch.ops.aten.addmm, torch.ops.aten.baddbmm}


def _module_macs(module: nn.Module, output: torch.Tensor) -> float:
    if isinstance(module, nn.Linear):
        return float(output.numel() * module.in_features)
    kernel = 1
    for k in module.kernel_size:
        kernel *= k
    return float(output.numel() * (module.in_channels // module.groups) * kernel)


def _trace(model: nn.Module, images: torch.Tensor) -> list[_Call]:
    trace = _Trace()

    def pre(module, inputs):
        trace.depth += 1

    def post(module, inputs, output):
        trace.depth -= 1
        weights = module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
        trace.calls.append(_Call(macs=_module_macs(module, output), weights=float(weights),
                                 activations=float(inputs[0].numel() + output.numel()), output_numel=output.numel()))

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    handles = [h for m in layers for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        with torch.no_grad(), trace:
            model(images)
    finally:
        for h in handles:
            h.remove()
    return trace.calls


def count_network(model: nn.Module, image_size: tuple[int, int], name: str = "network") -> NetworkCost:
    """MACs, weight reads and activation traffic per image, and the part done once (independent of the image).

    Runs the model twice (1 and 2 images; on the meta device this costs only shapes): a call whose output
    does not grow with the batch (the teacher's text encoder) is work done once, not per image.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        one, two = (_trace(model, torch.zeros(b, 3, *image_size, device=device)) for b in (1, 2))
    finally:
        model.train(was_training)
    if len(one) != len(two):
        raise ValueError(f"{name}: the forward pass takes different paths for 1 and 2 images; cannot tell per-image work")
    cost = NetworkCost(name, parameters=sum(p.numel() for p in model.parameters() if p.requires_grad))
    for a, b in zip(one, two):
        if a.output_numel == b.output_numel:  # the same work for any batch: done once
            cost.once_macs += a.macs
            cost.once_weight_reads += a.weights
            cost.once_activations += a.activations
        else:
            cost.macs += a.macs
            cost.weight_reads += a.weights
            cost.activations += a.activations
    return cost


# ---------------------------------------------------------------- pricing


@dataclass(frozen=True)
class ArrayEnergy:
    """Energy per image on the 45 nm array (J), split into arithmetic and SRAM traffic, for one band."""

    compute: float
    memory: float
    once: float = 0.0  # image-independent work, priced once per deployment

    @property
    def total(self) -> float:
        return self.compute + self.memory


def ann_on_array(cost: NetworkCost, arithmetic: Arithmetic, band: str = "typical") -> ArrayEnergy:
    per_byte = sram_pj_per_byte(band) * arithmetic.bytes_per_value
    return ArrayEnergy(
        compute=cost.macs * arithmetic.mac_pj * PICO,
        memory=(cost.weight_reads + cost.activations) * per_byte * PICO,
        once=(cost.once_macs * arithmetic.mac_pj + (cost.once_weight_reads + cost.once_activations) * per_byte) * PICO,
    )


@dataclass(frozen=True)
class SpikingWork:
    """What an SNN does per image, in the terms the array prices (all steps included)."""

    accumulates: float  # synaptic events on binary inputs
    macs: float  # real-valued inputs (the encoder) x fan-out
    neuron_updates: float
    weight_reads: float  # every weight of every layer, once per step
    spike_reads: float  # binary inputs read (bits)
    value_reads: float  # real-valued inputs read (values)
    outputs: float  # synapse outputs written (values)
    time_steps: int

    def to_dict(self) -> dict:
        return asdict(self)


def spiking_work(count) -> SpikingWork:
    """From a `SpikformerCount` (per-layer elements and weights of the torch model, per image)."""
    layers = [x for x in count.layers if x.kind in ("conv", "linear")]
    t = count.time_steps
    binary = [x for x in layers if x.input_rate is not None]
    real = [x for x in layers if x.input_rate is None]
    return SpikingWork(
        accumulates=count.acs,
        macs=count.macs,
        neuron_updates=count.neuron_updates,
        weight_reads=float(sum(x.weights for x in layers)) * t,
        spike_reads=float(sum(x.inputs for x in binary)),
        value_reads=float(sum(x.inputs for x in real)),
        outputs=float(sum(x.outputs for x in layers)),
        time_steps=t,
    )


def snn_on_array(work: SpikingWork, arithmetic: Arithmetic, band: str = "typical") -> ArrayEnergy:
    per_byte = sram_pj_per_byte(band)
    word = arithmetic.bytes_per_value
    compute = work.accumulates * arithmetic.add_pj + (work.macs + work.neuron_updates) * arithmetic.mac_pj
    memory_bytes = (work.weight_reads * word + work.spike_reads / 8.0 + work.value_reads * word
                    + work.outputs * word + 2.0 * work.neuron_updates * word)
    return ArrayEnergy(compute=compute * PICO, memory=memory_bytes * per_byte * PICO)


def describe_array() -> str:
    sram = ", ".join(f"{SRAM_SIZES[b]} {SRAM_PJ_PER_64_BITS[b]:g} pJ" for b in BANDS)
    return (f"45 nm MAC array ({HOROWITZ}): int8 MAC {ARITHMETIC['int8'].mac_pj:.2f} pJ / AC {ARITHMETIC['int8'].add_pj} pJ, "
            f"fp32 MAC {ARITHMETIC['fp32'].mac_pj:.1f} pJ / AC {ARITHMETIC['fp32'].add_pj} pJ; SRAM per 64-bit access: {sram} "
            "(typical 32 KB; band 8 KB .. 1 MB); weights in SRAM (no DRAM)")
