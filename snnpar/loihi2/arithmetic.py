"""The Loihi 2 integer arithmetic as torch primitives, exact, shared by the integer evaluator and QAT.

Values are integers held in float64 tensors: every product and partial sum below stays under 2^53 (24-bit
state times 12-bit decays < 2^36; synapse sums are checked by the caller, `check_exact`), so float64 gives
the exact integer result on the CPU and on CUDA (no TF32, no Winograd for float64) and BLAS can do the
convolutions. The integer model keeps a value in float32 where that is proven exact too (`fits_float32`
for a synapse's sums, `float32_voltage` for a group's v): half the memory traffic. Each primitive is the
step of a lava-nc 0.10.0 fixed-point ProcessModel, to the bit.

For QAT the same functions run on tensors that carry gradients: `exact(value, surrogate)` returns `value`
in the forward pass and the gradient of `surrogate` in the backward pass (straight-through), and spikes
pass a surrogate gradient through `spike_fn`. Without gradients they are the integer model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from snnpar.loihi2.formats import (
    ACTIVATION_SHIFT,
    DECAY_UNITY,
    MESSAGE_BITS,
    NO_CURRENT,
    STATE_LIMIT,
    NeuronFormat,
)

EXACT_IN_FLOAT64 = 2**53
EXACT_IN_FLOAT32 = 2**24


def exact(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """`value` forward, d`surrogate` backward: value + (s - s) is value to the bit, unlike s + (value - s)."""
    if not surrogate.requires_grad:
        return value.detach() if value.requires_grad else value
    return value.detach() + (surrogate - surrogate.detach())


def check_exact(bound: float, what: str) -> None:
    """Refuse (as a bug-level limit, not silently rounding) a sum that float64 could not hold exactly."""
    if bound >= EXACT_IN_FLOAT64:
        raise OverflowError(f"{what}: partial sums up to {bound:.3g} exceed 2^53, where float64 stops being exact")


def heaviside(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


def decay(x: torch.Tensor, factor: int) -> torch.Tensor:
    """x * factor >> 12, sign-magnitude (the shift truncates toward zero), as Lava's LIF decays u and v."""
    quotient = x * (factor / DECAY_UNITY)  # exact: a power-of-two division of an integer product < 2^36
    return exact(torch.trunc(quotient), quotient)


def wrap_current(u: torch.Tensor) -> torch.Tensor:
    """Lava's 24-bit wrap of u: u > 2^23 -> u - 2^24; u <= -2^23 -> u + 2^24 (one wrap, as Lava does; the same
    as this modulo while |u| < 3 * 2^23, which the formats guarantee: |a| < 2^17, |decayed u| < 2^23).
    A float32 u (the evaluator's a << 6, exact) wraps in float64, where the modulo is exact."""
    if not u.requires_grad:
        low, high = torch.aminmax(u)
        if -STATE_LIMIT < float(low) and float(high) <= STATE_LIMIT:  # nothing wraps: one pass instead of three
            return u
        u = u.to(torch.float64)
    return exact(torch.remainder(u + (STATE_LIMIT - 1), 2 * STATE_LIMIT) - (STATE_LIMIT - 1), u)


def clip_voltage(v: torch.Tensor) -> torch.Tensor:
    return exact(torch.clamp(v, -STATE_LIMIT + 1, STATE_LIMIT - 1), v)


def wrap_message(x: torch.Tensor, bits: int = MESSAGE_BITS) -> torch.Tensor:
    """Signed wrap to `bits` bits, as Lava's fixed-point Conv does with its output (signed_clamp)."""
    base = float(1 << bits)
    return exact(torch.remainder(x + base / 2, base) - base / 2, x)


def shift_sum(acc: torch.Tensor, exp: int) -> torch.Tensor:
    """The Dense model's weight exponent on the accumulated sum: << exp, or an arithmetic >> -exp (floor)."""
    if exp >= 0:
        return acc * 2.0**exp
    return exact(torch.floor(acc / 2.0**-exp), acc / 2.0**-exp)


SpikeFn = Callable[[torch.Tensor], torch.Tensor]


def lif_step(u: torch.Tensor, v: torch.Tensor, a: torch.Tensor, fmt: NeuronFormat, bias: torch.Tensor | None = None,
             spike_fn: SpikeFn | None = None, detach_reset: bool = False, current_bias: torch.Tensor | None = None,
             subtract: bool = False, no_wrap: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's PyLifModelBitAcc: (spikes, u, v) for integer input a.

    `bias` overrides the format's integer bias (QAT passes it with its gradient); `spike_fn` maps
    v - (vth << 6), in units of real voltage, to spikes (QAT: a surrogate; default: v > vth << 6);
    `detach_reset` keeps the spike's gradient out of the reset (the reference's detach_reset=True).
    `current_bias` (integer, units of u) is added to u after the input, before the wrap (hw_sim's
    RecurrentLIFReset); `subtract`: v <- v - fmt.reset_subtrahend on a spike instead of v <- 0.
    `no_wrap`: the caller has proven |a| << 6 < 2^23 with no current (du = 4095), so u cannot wrap.
    `a` may be float32 (integers below 2^24: a << 6 stays exact); v is float64.
    """
    if fmt.du != NO_CURRENT:  # du = 4095 (+1) decays u to exactly 0: u is this step's input alone
        current = decay(u.to(torch.float64), DECAY_UNITY - (fmt.du + 1)) + a.to(torch.float64) * 2**ACTIVATION_SHIFT
    else:
        current = a * 2**ACTIVATION_SHIFT
    if current_bias is not None:
        current = current + current_bias
    no_wrap = no_wrap and fmt.du == NO_CURRENT and current_bias is None
    u = current if no_wrap else wrap_current(current)
    bias = fmt.bias if bias is None else bias
    if spike_fn is None and not subtract and not (u.requires_grad or v.requires_grad or bias.requires_grad):
        # the integer model, in place on the fresh decayed v: an integer comparison; spikes in float32 (0/1).
        # |u + bias| <= 2^23 + 2^20 is exact even in float32, so a float32 v (`float32_voltage`) rounds at most
        # once, in v + (u + bias), and only above 2^24, where the clamp gives what the exact sum gives
        v = decay(v, DECAY_UNITY - fmt.dv)
        v += (u + bias).to(v.dtype)
        v.clamp_(-STATE_LIMIT + 1, STATE_LIMIT - 1)
        fired = v > fmt.vth * 2**ACTIVATION_SHIFT
        return fired.to(torch.float32), u, v.masked_fill_(fired, 0.0)
    v = clip_voltage(decay(v, DECAY_UNITY - fmt.dv) + u + bias)
    if spike_fn is None:
        fired = v > fmt.vth * 2**ACTIVATION_SHIFT
        after = v - fired * float(fmt.reset_subtrahend) if subtract else v.masked_fill(fired, 0.0)
        return fired.to(torch.float32), u, after
    z = spike_fn((v - fmt.vth * 2**ACTIVATION_SHIFT) / (fmt.scale * 2**ACTIVATION_SHIFT))
    reset = z.detach() if detach_reset else z
    return z, u, (v - reset * fmt.reset_subtrahend if subtract else v * (1 - reset))


def float32_voltage(fmt: NeuronFormat, subtract: bool = False) -> bool:
    """Whether the integer model may hold v in float32 (half the memory traffic of float64) and stay exact: its
    decay factor is 0 or a power of two, so v * factor >> 12 is an exponent shift, exact for any float32
    integer; and the reset is to zero (`lif_step`'s integer branch, which rounds at most once)."""
    factor = DECAY_UNITY - fmt.dv
    return not subtract and factor & (factor - 1) == 0


def conv(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups: int,
         float32: bool = False, bound: float | None = None) -> torch.Tensor:
    """Lava's fixed-point Conv on a batch [B, C, H, W] (torch layout weights): integer sums, 24-bit wrap.

    `float32=True` sums in float32 (BLAS-fast on the CPU), for a caller that has proven every partial sum
    below 2^24 (`fits_float32`); on CUDA float32 convolutions may use TF32 or Winograd, so do not there.
    `bound`: a proven bound on |output|; below 2^23 nothing wraps, and a float32 result stays float32 (its
    integers are exact there)."""
    args = (None, tuple(stride), tuple(padding), tuple(dilation), groups)
    fits = bound is not None and bound < 2 ** (MESSAGE_BITS - 1)
    if float32:
        out = F.conv2d(x.float(), weight.float(), *args)  # .float() of float32 is the tensor itself
        return out if fits else wrap_message(out.double())
    out = F.conv2d(x.to(weight.dtype), weight, *args)
    return out if fits else wrap_message(out)


def fits_float32(input_bound: float, weight: torch.Tensor, device: torch.device) -> bool:
    """Whether a CPU synapse's sums stay exact in float32: max |input| times the largest sum of |w| of one
    output below 2^24."""
    return device.type == "cpu" and input_bound * float(weight.abs().flatten(1).sum(1).max()) < EXACT_IN_FLOAT32


def dense(x: torch.Tensor, weight: torch.Tensor, exp: int) -> torch.Tensor:
    """Lava's Dense on a batch [B, n_in]: integer sums, then the weight exponent."""
    return shift_sum(x.to(weight.dtype) @ weight.T, exp)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, multiplier: int) -> torch.Tensor:
    """SSA's fixed-point model on [B, C, N] spikes: counts q (k^T v) per head, times an integer, 24-bit wrap."""
    b, c, n = q.shape
    heads = lambda z: z.reshape(b, num_heads, c // num_heads, n)  # noqa: E731
    kv = heads(k) @ heads(v).transpose(-1, -2)  # [B, H, d, d]: sum over tokens of k_i v_j
    counts = (kv.transpose(-1, -2) @ heads(q)).reshape(b, c, n)  # at most d * N: exact in float32 too
    return wrap_message(counts.double() * multiplier)


def readout(signals: torch.Tensor, unit: float, offset: torch.Tensor) -> torch.Tensor:
    """Logits from a readout input over time [T, B, ...] in integer units: mean over T of (real value + offset),
    in the order `hw_sim.simulator.simulation.readout_logits` computes it for Lava's recordings."""
    return (signals / unit + offset).mean(dim=0)
