"""The spiking neuron of the student: Norse's LIF-box step, run over a leading time axis.

The reference implementations (Spikingformer, SNN-PAR) use SpikingJelly's
MultiStepLIFNode(tau=2, decay_input=True, v_reset=0, detach_reset=True, surrogate Sigmoid(alpha=4)):
v <- v + (x - v) / tau. Norse's LIF-box integrates dv = dt * tau_mem_inv * (v_leak - v + x) with
forward Euler, the same update (bit for bit in float32) when dt * tau_mem_inv = 1 / tau = 0.5 and
v_leak = v_reset = 0. Three choices make a neuron the reference's or Norse's own (`LIFConfig`):
- the firing rule: SpikingJelly fires on v >= v_th, Norse (and NIR, Lava) on v > v_th. They differ only
  on exact ties, which are common in SSA's attn_lif (its input is a multiple of 0.125, v_th = 0.5);
- the reset: detached (the spike's gradient does not flow through the hard reset) or in the graph;
- the surrogate gradient: SpikingJelly's Sigmoid(alpha), alpha * s * (1 - s) with s = sigmoid(alpha x),
  or any of Norse's threshold methods (SuperSpike, ...), each with its own alpha.
`NEURON_MODELS` names the two complete sets: "reference" (the default of every student) and "norse".

How much is Norse's: Norse expresses a detached reset through its reset hook (`reset_method`), so a
neuron firing on v > v_th with a Norse surrogate runs Norse's `lif_box_feed_forward_step` unchanged.
Norse's threshold is a strict Heaviside and its surrogates are chosen by name from a list without
SpikingJelly's sigmoid, so it cannot express v >= v_th or Sigmoid(alpha). For those neurons the step is
Norse's LIF-box step taken apart (`lif_step`): Norse's leaky-integrator-box update, `fire` in place of
Norse's threshold, Norse's reset hook.

The membrane and the threshold comparison are float32 also under autocast (`in_float32`): a bf16
membrane flips spikes.

Parameters are explicit per layer (`LIFConfig`) so the NIR exporter reads them from the module
instead of assuming them. This module deliberately holds no network structure.

Two backends run the same Norse step: ``"norse"`` (`MultiStepLIF`, eager, the default) and
``"norse-compiled"`` (`CompiledMultiStepLIF`), which hands the same T loop to `torch.compile` so that
inductor fuses the T steps of Norse's update, spike and reset into one kernel (C++ on CPU, Triton on
GPU) and its backward into another. Both fire the same spikes and give the same gradients (bit for bit
through Norse's surrogates; through the Sigmoid surrogate to float32 rounding, as inductor computes the
sigmoid its own way).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

with warnings.catch_warnings():  # norse 1.1.0 scripts helpers with the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from norse.torch.functional.leaky_integrator_box import (
        LIBoxParameters,
        LIBoxState,
        li_box_feed_forward_step,
    )
    from norse.torch.functional.lif_box import (
        LIFBoxFeedForwardState,
        LIFBoxParameters,
        lif_box_feed_forward_step,
    )
    from norse.torch.functional.reset import reset_value
    from norse.torch.functional.threshold import threshold

DEFAULT_DT = 1e-3  # seconds per time step; only dt * tau_mem_inv matters for the dynamics
FIRING_RULES = (">=", ">")  # spike when v >= v_th (SpikingJelly) or v > v_th (Norse, NIR, Lava)
NORSE_SURROGATES = ("super", "triangle", "tanh", "circ", "heavi_erfc")  # Norse's threshold methods
SURROGATES = ("sigmoid", *NORSE_SURROGATES)  # "sigmoid": SpikingJelly's surrogate.Sigmoid


@dataclass(frozen=True)
class LIFConfig:
    """Parameters of one layer of LIF neurons (SI units, as NIR stores them). Defaults: the reference's."""

    tau_mem: float = 2e-3  # membrane time constant; dt / tau_mem = 0.5 is the reference's 1/tau
    v_th: float = 1.0
    v_leak: float = 0.0
    v_reset: float = 0.0
    dt: float = DEFAULT_DT
    firing_rule: str = ">="  # ">=": SpikingJelly's v >= v_th; ">": Norse's, NIR's and Lava's v > v_th
    detach_reset: bool = True  # Spikingformer's detach_reset=True: no gradient through the reset
    surrogate: str = "sigmoid"  # SpikingJelly's Sigmoid(alpha), or a Norse threshold method (NORSE_SURROGATES)
    surrogate_alpha: float = 4.0  # the surrogate's sharpness (SpikingJelly's Sigmoid default and the reference's)

    def __post_init__(self):
        if self.firing_rule not in FIRING_RULES:
            raise ValueError(f"firing_rule must be one of {FIRING_RULES}, not {self.firing_rule!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, not {self.surrogate!r}")

    @property
    def decay(self) -> float:
        """Fraction of the gap to v_leak closed per step (dt / tau_mem)."""
        return self.dt / self.tau_mem

    def norse_parameters(self) -> LIFBoxParameters:
        return LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(1.0 / self.tau_mem),
            v_leak=torch.as_tensor(self.v_leak),
            v_th=torch.as_tensor(self.v_th),
            v_reset=torch.as_tensor(self.v_reset),
            method=self.surrogate,
            alpha=torch.as_tensor(self.surrogate_alpha),
            reset_method=reset_value_detached if self.detach_reset else reset_value,
        )


def in_float32(loop: Callable[..., torch.Tensor], x: torch.Tensor, *args) -> torch.Tensor:
    """Run a neuron loop with its state update and threshold comparison in float32 (or float64, if given),
    also under autocast, where a bf16 membrane flips spikes; spikes go back in the input's dtype (0/1 is exact)."""
    dtype = x.dtype
    low = dtype in (torch.float16, torch.bfloat16)
    if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            spikes = loop(x.float() if low else x, *args)
    else:
        spikes = loop(x.float() if low else x, *args)
    return spikes.to(dtype) if low else spikes


# The two complete neuron models a student can be built with (`SpikingformerConfig.neurons`).
NEURON_MODELS: dict[str, LIFConfig] = {
    "reference": LIFConfig(),  # SpikingJelly's MultiStepLIFNode as Spikingformer and SNN-PAR configure it
    "norse": LIFConfig(firing_rule=">", detach_reset=False, surrogate="super", surrogate_alpha=100.0),
}


def reset_value_detached(z: torch.Tensor, v: torch.Tensor, reset: torch.Tensor, th: torch.Tensor) -> torch.Tensor:
    """Norse's hard reset with the spike detached from the graph (SpikingJelly's detach_reset=True)."""
    return reset_value(z.detach(), v, reset, th)


class SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside of x = v - v_th forward (x >= 0 or x > 0); SpikingJelly's Sigmoid surrogate backward:
    d spike / dx = alpha * s * (1 - s), s = sigmoid(alpha * x), in SpikingJelly's order of operations."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: torch.Tensor, fire_on_tie: bool) -> torch.Tensor:
        ctx.save_for_backward(x, alpha)
        return (x >= 0 if fire_on_tie else x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, alpha = ctx.saved_tensors
        s = (x * alpha).sigmoid()
        return grad * (1.0 - s) * s * alpha, None, None


def fire(x: torch.Tensor, surrogate: str, alpha: torch.Tensor, firing_rule: str) -> torch.Tensor:
    """Spikes of x = v - v_th under `firing_rule`, with the gradient of `surrogate`.

    A Norse surrogate keeps Norse's own threshold function (strictly x > 0); under ">=" the ties x == 0
    fire as well, adding no gradient of their own (the surrogate's gradient at 0 stands for them).
    """
    if surrogate == "sigmoid":
        return SigmoidSurrogateSpike.apply(x, alpha, firing_rule == ">=")
    z = threshold(x, surrogate, alpha)
    if firing_rule == ">=":
        z = z + (x == 0).to(z.dtype)
    return z


def lif_step(x: torch.Tensor, state: LIFBoxFeedForwardState, p: LIFBoxParameters, dt: float,
             firing_rule: str) -> tuple[torch.Tensor, LIFBoxFeedForwardState]:
    """One step of a layer: Norse's `lif_box_feed_forward_step` where Norse expresses the neuron (v > v_th,
    a Norse surrogate), else the same step taken apart (see the module docstring)."""
    if firing_rule == ">" and p.method in NORSE_SURROGATES:
        return lif_box_feed_forward_step(x, state, p, dt)
    v, _ = li_box_feed_forward_step(x, LIBoxState(state.v), LIBoxParameters(p.tau_mem_inv, p.v_leak), dt)
    z = fire(v - p.v_th, p.method, p.alpha, firing_rule)
    return z, LIFBoxFeedForwardState(v=p.reset_method(z, v, p.v_reset, p.v_th))


def norse_time_loop(x: torch.Tensor, params: LIFBoxParameters, dt: float, firing_rule: str = ">") -> torch.Tensor:
    """Spikes [T, ...] of `lif_step` applied to x[0], ..., x[T-1] from v = 0."""
    state = LIFBoxFeedForwardState(v=torch.zeros_like(x[0]))
    spikes = []
    for x_t in x:
        z, state = lif_step(x_t, state, params, dt, firing_rule)
        spikes.append(z)
    return torch.stack(spikes)


class MultiStepLIF(nn.Module):
    """Norse LIF-box neurons applied to x[t] for t = 0..T-1 (time is the first axis).

    Stateless between calls: every forward starts from v = 0, as the reference does, so one call
    is one presentation of one image.
    """

    def __init__(self, config: LIFConfig = LIFConfig()):
        super().__init__()
        self.config = config
        self._params = config.norse_parameters()

    def norse_parameters_on(self, device: torch.device) -> LIFBoxParameters:
        """The Norse parameters as tensors on `device`, moved once and cached (not buffers: no state_dict)."""
        p = self._params
        if p.tau_mem_inv.device != device:
            p = self._params = LIFBoxParameters(
                *(f.to(device) if isinstance(f, torch.Tensor) else f for f in p)
            )
        return p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float32(norse_time_loop, x, self.norse_parameters_on(x.device), self.config.dt,
                          self.config.firing_rule)

    def extra_repr(self) -> str:
        c = self.config
        return (f"v_th={c.v_th}, decay={c.decay:g}, fires on v {c.firing_rule} v_th, "
                f"{'detached' if c.detach_reset else 'attached'} reset, surrogate={c.surrogate}({c.surrogate_alpha:g})")


@functools.cache
def compiled_norse_time_loop() -> Callable[[torch.Tensor, LIFBoxParameters, float, str], torch.Tensor]:
    """`norse_time_loop` under torch.compile, built once and shared by every layer (one compile cache).

    emulate_precision_casts turns off Triton's fused multiply-add contraction on GPU, so the compiled
    kernel rounds like eager PyTorch (inductor's C++ on CPU already compiles with -ffp-contract=off).
    """
    return torch.compile(norse_time_loop, options={"emulate_precision_casts": True})


class CompiledMultiStepLIF(MultiStepLIF):
    """`MultiStepLIF` whose T loop of Norse steps is compiled by `torch.compile` (inductor).

    Same step function, same parameters, same spikes and gradients: only the execution differs. The
    input is flattened to [T, n] with n marked dynamic, so every layer shape of a network shares one
    compiled kernel per (T, dtype, device, grad mode). The first call of each compiles (seconds on
    GPU, tens of seconds on CPU, where inductor needs a C++ compiler); use it for long runs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        torch._dynamo.maybe_mark_dynamic(flat, 1)
        spikes = in_float32(compiled_norse_time_loop(), flat, self.norse_parameters_on(x.device), self.config.dt,
                            self.config.firing_rule)
        return spikes.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, compiled"


# Neuron implementations by name. The student builds every neuron through `make_lif`, so a benchmark
# can register another implementation of the same equation (e.g. SpikingJelly's) and swap it in.
NEURON_BACKENDS: dict[str, type[nn.Module]] = {"norse": MultiStepLIF, "norse-compiled": CompiledMultiStepLIF}


def make_lif(config: LIFConfig, backend: str = "norse") -> nn.Module:
    try:
        return NEURON_BACKENDS[backend](config)
    except KeyError:
        raise ValueError(f"unknown neuron backend {backend!r}; known: {sorted(NEURON_BACKENDS)}") from None


def lif_reference_step(v, x, decay: float, v_th: float, v_leak: float = 0.0, v_reset: float = 0.0,
                       firing_rule: str = ">"):
    """One LIF step in plain numpy/torch arithmetic, the equation every backend must agree with.

    Returns (spike, new_v). Used by tests to pin the Norse step, the NIR executor and Lava down to
    the same update.
    """
    v = v + decay * (v_leak - v + x)
    z = ((v >= v_th) if firing_rule == ">=" else (v > v_th)) * 1.0
    return z, v * (1 - z) + z * v_reset
