"""The Loihi 2 fixed-point formats and the scale rule: the one definition every stage uses.

Formats (lava-nc 0.10.0 fixed_pt models, bit for bit):
- synaptic input a is an integer; the LIF adds a << 6 to its current u (24-bit, wraps);
- u <- u * (4096 - (du + 1)) >> 12 + (a << 6)  (du: 12-bit, Lava adds a hidden +1; du = 4095: no current);
- v <- v * (4096 - dv) >> 12 + u + bias, clipped to 24 bits; the products are shifted sign-magnitude;
- spike v > vth << 6 (vth: 17-bit), then v = 0 (reset by subtraction: v - threshold * S * 64, rounded);
  bias = mantissa (13-bit signed) << exponent (0..7);
- a bias into the current (a synapse bias before a CubaLIF; a recurrent synapse's bias) is the same format in
  units of u, added to u after the input's << 6, before the wrap;
- Dense weights: 8-bit with a shared exponent on the accumulated sum (mixed signs lose the lowest bit: even
  values in [-256, 254]); Lava's Conv ignores its weight exponent, so conv weights are an 8-bit mantissa << e
  (e >= 0) and conv outputs wrap to 24 bits.

Scales: every neuron group has S, integer input per unit of (gain * I), a power of two, so v counts units of
S * 64 and vth = threshold * S. `group_scale` is the rule for a group of neurons and the synapses feeding it;
`hw_sim.chip.quantize` decides which nodes form a group, QAT trains with the scales it chose.

Quantisers are torch functions on float64 tensors (numpy callers wrap their arrays); each returns the chip's
integers and the effective real values, so QAT can pass gradients straight through (`arithmetic.exact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

WEIGHT_BITS = 8
DECAY_SHIFT = 12
DECAY_UNITY = 2**DECAY_SHIFT  # a 12-bit decay d multiplies by (4096 - d) / 4096
MAX_DECAY = DECAY_UNITY - 1
STATE_BITS = 24
STATE_LIMIT = 2 ** (STATE_BITS - 1)  # u wraps and v clips at +-2^23
ACTIVATION_SHIFT = 6  # synaptic input and threshold are MSB-aligned by 6 bits
VTH_MAX = 2**17 - 1
BIAS_MANTISSA = (-(2**12), 2**12 - 1)  # 13-bit signed
BIAS_MAX_EXP = 7
MESSAGE_BITS = 24  # graded spikes and conv outputs
NO_CURRENT = MAX_DECAY  # du = 4095 (+1 hidden): u holds one step's input only
NEVER_SPIKES = VTH_MAX

# The scale rule's margins: worst-case input per step in integer units (a << 6 then stays 8x inside 24
# bits), and the largest scale tried.
MAX_INPUT = 2**14
MAX_SCALE_LOG2 = 16
INPUT_BITS = 8  # the image as signed integers of this width
HARD_MAX_INPUT = STATE_LIMIT >> ACTIVATION_SHIFT  # |a| beyond this wraps u: the state saturates

# The data-calibrated rule (opt in): the input a group really sees on calibration images, |value| at this
# percentile, kept within CALIBRATED_MAX_INPUT (8x below the wrap), and the largest input seen below the wrap.
# Inputs beyond it on other images wrap u as Lava's LIF does (v clips); the integer evaluator does the same.
CALIBRATION_PERCENTILE = 99.99
CALIBRATED_MAX_INPUT = MAX_INPUT

# Trained formats travel as {"version", "input_scale", "scales": {node: S}} under this key: in a QAT
# checkpoint's card, in the NIR graph's metadata, in the training config.
FORMATS_KEY = "loihi2"
FORMATS_VERSION = 1


def formats_metadata(input_scale: float, scales: dict[str, int]) -> dict:
    """The entry that carries trained formats (the scale of every node, by NIR node name)."""
    return {"version": FORMATS_VERSION, "input_scale": float(input_scale),
            "scales": {name: int(s) for name, s in scales.items()}}


@dataclass(frozen=True)
class NeuronFormat:
    """A neuron group's integer parameters (what Lava's LIFReset gets)."""

    scale: int
    vth: int
    dv: int
    du: int
    bias_mantissa: torch.Tensor  # int-valued float64, NIR shape
    bias_exp: int
    current_bias: torch.Tensor | None = None  # integer (mantissa << exponent), units of u: added every step
    recurrent_bias: torch.Tensor | None = None  # the same, from the group's second step of each period
    reset_subtrahend: int = 0  # v <- v - this on a spike, with reset by subtraction

    @property
    def bias(self) -> torch.Tensor:
        """The effective integer bias, mantissa << exponent."""
        return self.bias_mantissa * 2.0**self.bias_exp


def voltage_decay(decay: float) -> int:
    """dv of a group that closes `decay` of the gap per step (1 = memoryless: 4095, the 12-bit maximum)."""
    return min(MAX_DECAY, int(round(decay * DECAY_UNITY)))


def current_decay(decay: float) -> int:
    """du for a synaptic current decaying by `decay` per step; Lava adds a hidden 1 (du = 4095: no current)."""
    return NO_CURRENT if decay >= 1 else max(0, int(round(decay * DECAY_UNITY)) - 1)


def integer_threshold(threshold: float, scale: int, spiking: bool = True, firing_rule: str = ">") -> int:
    """vth for a real threshold at scale S under the chip's rule v > vth << 6.

    ">": floor(threshold * S), so that for every state v that is a whole number of input units (a multiple of
    64) v > vth << 6 is exactly v > threshold * S * 64. ">=" (the reference's v >= threshold): ceil(threshold * S)
    - 1, so that for those states v > vth << 6 is exactly v >= threshold * S * 64, ties included. Not exact for
    a state off that grid (the decay's truncation leaves fractions of a unit) lying within one unit below the
    threshold: the chip fires there, the rule would not. The chip cannot do better: its comparison is strict
    and its threshold a multiple of 64.
    """
    if not spiking:
        return NEVER_SPIKES
    units = threshold * scale
    vth = int(math.ceil(units)) - 1 if firing_rule == ">=" else int(math.floor(units))
    return min(VTH_MAX, vth)


def threshold_error(threshold: float, scale: int, vth: int, firing_rule: str = ">") -> float:
    """Relative distance between the real threshold and the integer point the rule compares with."""
    tie_point = vth + 1 if firing_rule == ">=" else vth
    return abs(tie_point - threshold * scale) / max(threshold * scale, 1e-12)


def bias_format(bias_v: torch.Tensor) -> tuple[torch.Tensor, int, torch.Tensor]:
    """(mantissa, exponent, effective) for a bias in units of v (real bias * S * 64): the smallest exponent
    that keeps the rounded mantissa within 13 bits, as one exponent per group."""
    exp = 0
    peak = float(bias_v.abs().max()) if bias_v.numel() else 0.0
    while exp < BIAS_MAX_EXP and round(peak / 2**exp) > BIAS_MANTISSA[1]:
        exp += 1
    mant = torch.clamp(torch.round(bias_v / 2**exp), *BIAS_MANTISSA)
    return mant, exp, mant * 2.0**exp


def reset_subtrahend(threshold: float, scale: int) -> int:
    """What reset by subtraction takes off v on a spike: the real threshold in units of v, rounded."""
    return int(round(threshold * scale * 2**ACTIVATION_SHIFT))


def current_bias_format(bias_u: torch.Tensor | None, scale: int) -> torch.Tensor | None:
    """A bias into the current (real units of u per step) as the chip's integer: `bias_format` in units of u."""
    if bias_u is None or not bool(torch.any(bias_u != 0)):
        return None
    return bias_format(bias_u.to(torch.float64) * (scale * 2**ACTIVATION_SHIFT))[2]


def neuron_format(threshold: float, decay: float, current: float, bias: torch.Tensor, scale: int,
                  spiking: bool = True, firing_rule: str = ">", current_bias: torch.Tensor | None = None,
                  recurrent_bias: torch.Tensor | None = None) -> NeuronFormat:
    """Every integer parameter of a group at scale S (biases in real units of v, and of u per step)."""
    mant, exp, _ = bias_format(bias.to(torch.float64) * (scale * 2**ACTIVATION_SHIFT))
    return NeuronFormat(scale, integer_threshold(threshold, scale, spiking, firing_rule), voltage_decay(decay),
                        current_decay(current), mant, exp, current_bias_format(current_bias, scale),
                        current_bias_format(recurrent_bias, scale),
                        reset_subtrahend(threshold, scale) if spiking else 0)


@dataclass(frozen=True)
class WeightFormat:
    """Integer weights of one synapse: the chip's integers, the exponent, and their real effect."""

    weight: torch.Tensor  # int-valued float64 (Dense: after Lava's sign-mode truncation; Conv: mantissa << e)
    exp: int  # Dense: shift of the accumulated sum; Conv: 0 (already in `weight`)
    effective: torch.Tensor  # weight * 2^exp, in integer output units per integer input unit
    mixed: bool


def dense_weight_format(target: torch.Tensor) -> WeightFormat:
    """Dense weights for targets in output units per input unit: 8-bit mantissas, one shared exponent
    chosen so the largest fits (mixed signs: even integers in [-256, 254], Lava's sign mode)."""
    peak = float(target.abs().max()) if target.numel() else 0.0
    mixed = bool(target.min() < 0 < target.max()) if target.numel() else False
    if peak == 0.0:
        zero = torch.zeros_like(target)
        return WeightFormat(zero, 0, zero, mixed)
    limit = 2 ** WEIGHT_BITS - (2 if mixed else 1)
    exp = math.ceil(math.log2(peak / limit))
    step = 2.0**exp * (2 if mixed else 1)
    low, high = (-(2 ** (WEIGHT_BITS - 1)), 2 ** (WEIGHT_BITS - 1) - 1) if mixed else (-limit, limit)
    mant = torch.clamp(torch.round(target / step), low, high)
    weight = mant * (2 if mixed else 1)
    return WeightFormat(weight, exp, mant * step, mixed)


def conv_weight_format(target: torch.Tensor) -> WeightFormat:
    """Conv weights: an 8-bit signed mantissa << e with e >= 0 (Lava's Conv has no negative exponent)."""
    peak = float(target.abs().max()) if target.numel() else 0.0
    mixed = bool(target.min() < 0 < target.max()) if target.numel() else False
    exp = max(0, math.ceil(math.log2(peak / (2 ** (WEIGHT_BITS - 1) - 1)))) if peak > 0 else 0
    mant = torch.clamp(torch.round(target / 2.0**exp), -(2 ** (WEIGHT_BITS - 1)), 2 ** (WEIGHT_BITS - 1) - 1)
    weight = mant * 2.0**exp
    return WeightFormat(weight, 0, weight, mixed)


def weight_format(op: str, target: torch.Tensor) -> WeightFormat:
    return dense_weight_format(target) if op == "dense" else conv_weight_format(target)


def weight_target(weight: torch.Tensor, gain: float, input_gain: float, out_scale: float,
                  in_scale: float) -> torch.Tensor:
    """Real weights (NIR, float64) -> integer output units per integer input unit, in one fixed order of
    operations, so that QAT and `hw_sim.chip.quantize` round the very same numbers."""
    return weight * (gain / input_gain) * (out_scale / in_scale)


def relative_error(effective: torch.Tensor, target: torch.Tensor) -> float:
    norm = float(torch.linalg.vector_norm(target))
    return float(torch.linalg.vector_norm(effective - target)) / max(norm, 1e-12)


def zeroed_fraction(fmt: WeightFormat, target: torch.Tensor) -> float:
    """Share of the non-zero real weights that became zero on the chip."""
    nonzero = target != 0
    count = int(nonzero.sum())
    return float(((fmt.weight == 0) & nonzero).sum()) / count if count else 0.0


def attention_multiplier(scale: float, gain: float, consumer_scale: int) -> int:
    """SSA's integer output multiplier: counts * multiplier is the attention in the consumer's units."""
    return int(round(scale * gain * consumer_scale))


def input_scale(input_range: float, bits: int = INPUT_BITS) -> float:
    """Integer units per real unit of the graded input (a power of two; |x| <= input_range fits `bits`)."""
    return 2.0 ** math.floor(math.log2((2 ** (bits - 1) - 1) / max(input_range, 1e-12)))


def group_scale(worst_input: float, max_threshold: float, min_current_decay: float = 1.0,
                spikes_in: bool = False, max_log2: int = MAX_SCALE_LOG2, peak_input: float | None = None) -> int:
    """The scale rule for one group: the largest power of two that keeps the worst-case input per step
    within MAX_INPUT (a synaptic current sums about 1/du steps of it) and the threshold within 17 bits.
    Spikes fed straight into neurons (no synapse to scale them) force S = 1.

    Calibrated (`peak_input` given): `worst_input` is the input at CALIBRATION_PERCENTILE on calibration
    images, kept within CALIBRATED_MAX_INPUT, and the largest input seen stays below the wrap of u."""
    if spikes_in:
        return 1
    per_step = 1 / min(min_current_decay, 1.0)
    limit = MAX_INPUT if peak_input is None else CALIBRATED_MAX_INPUT
    log2 = min(math.floor(math.log2(limit / (max(worst_input, 1e-12) * per_step))),
               math.floor(math.log2(VTH_MAX / max(max_threshold, 1e-12))), max_log2)
    if peak_input is not None:  # strictly below the wrap: the largest power of two S with peak * S < 2^17
        log2 = min(log2, math.ceil(math.log2(HARD_MAX_INPUT / (max(peak_input, 1e-12) * per_step))) - 1)
    return 2 ** max(log2, 0)


def calibrated_magnitude(values: torch.Tensor, percentile: float = CALIBRATION_PERCENTILE) -> float:
    """|value| at `percentile`: the smallest magnitude that at least that share of the values do not exceed
    (an order statistic, no interpolation)."""
    flat = values.detach().abs().flatten().to(torch.float64)
    if flat.numel() == 0:
        return 0.0
    k = min(flat.numel(), max(1, math.ceil(percentile / 100 * flat.numel())))
    return float(torch.kthvalue(flat, k).values)
