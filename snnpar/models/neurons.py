"""The spiking neuron of the student: Norse's LIF-box step, run over a leading time axis.

The reference implementations use SpikingJelly's MultiStepLIFNode(tau=2, hard reset to 0,
decay_input=True): v <- v + (x - v) / tau. Norse's `lif_box_feed_forward_step` integrates
dv = dt * tau_mem_inv * (v_leak - v + x) with forward Euler, which is the same update when
dt * tau_mem_inv = 1 / tau = 0.5, v_leak = 0 and v_reset = 0. Spikes fire when v > v_th. The membrane
and the threshold comparison are float32 also under autocast (`in_float32`): a bf16 membrane flips spikes.

Parameters are explicit per layer (`LIFConfig`) so the NIR exporter reads them from the module
instead of assuming them. This module deliberately holds no network structure.

Two backends run the same Norse step: ``"norse"`` (`MultiStepLIF`, eager, the default) and
``"norse-compiled"`` (`CompiledMultiStepLIF`), which hands the same T loop to `torch.compile` so that
inductor fuses the T steps of Norse's update, spike and reset into one kernel (C++ on CPU, Triton on
GPU) and its backward into another. Both fire the same spikes and give the same gradients.
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
    from norse.torch.functional.lif_box import (
        LIFBoxFeedForwardState,
        LIFBoxParameters,
        lif_box_feed_forward_step,
    )

DEFAULT_DT = 1e-3  # seconds per time step; only dt * tau_mem_inv matters for the dynamics


@dataclass(frozen=True)
class LIFConfig:
    """Parameters of one layer of LIF neurons (SI units, as NIR stores them)."""

    tau_mem: float = 2e-3  # membrane time constant; dt / tau_mem = 0.5 is the reference's 1/tau
    v_th: float = 1.0
    v_leak: float = 0.0
    v_reset: float = 0.0
    dt: float = DEFAULT_DT
    surrogate: str = "super"  # any Norse threshold method: super, triangle, tanh, circ, heavi_erfc
    surrogate_alpha: float = 100.0

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


def norse_time_loop(x: torch.Tensor, params: LIFBoxParameters, dt: float) -> torch.Tensor:
    """Spikes [T, ...] of Norse's `lif_box_feed_forward_step` applied to x[0], ..., x[T-1] from v = 0."""
    state = LIFBoxFeedForwardState(v=torch.zeros_like(x[0]))
    spikes = []
    for x_t in x:
        z, state = lif_box_feed_forward_step(x_t, state, params, dt)
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
        return in_float32(norse_time_loop, x, self.norse_parameters_on(x.device), self.config.dt)

    def extra_repr(self) -> str:
        c = self.config
        return f"v_th={c.v_th}, decay={c.decay:g}, surrogate={c.surrogate}"


@functools.cache
def compiled_norse_time_loop() -> Callable[[torch.Tensor, LIFBoxParameters, float], torch.Tensor]:
    """`norse_time_loop` under torch.compile, built once and shared by every layer (one compile cache).

    emulate_precision_casts turns off Triton's fused multiply-add contraction on GPU, so the compiled
    kernel rounds like eager PyTorch (inductor's C++ on CPU already compiles with -ffp-contract=off).
    """
    return torch.compile(norse_time_loop, options={"emulate_precision_casts": True})


class CompiledMultiStepLIF(MultiStepLIF):
    """`MultiStepLIF` whose T loop of Norse steps is compiled by `torch.compile` (inductor).

    Same Norse function, same parameters, same spikes and gradients: only the execution differs. The
    input is flattened to [T, n] with n marked dynamic, so every layer shape of a network shares one
    compiled kernel per (T, dtype, device, grad mode). The first call of each compiles (seconds on
    GPU, tens of seconds on CPU, where inductor needs a C++ compiler); use it for long runs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        torch._dynamo.maybe_mark_dynamic(flat, 1)
        spikes = in_float32(compiled_norse_time_loop(), flat, self.norse_parameters_on(x.device), self.config.dt)
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


def lif_reference_step(v, x, decay: float, v_th: float, v_leak: float = 0.0, v_reset: float = 0.0):
    """One LIF step in plain numpy/torch arithmetic, the equation every backend must agree with.

    Returns (spike, new_v). Used by tests to pin the Norse step, the NIR executor and Lava down to
    the same update.
    """
    v = v + decay * (v_leak - v + x)
    z = (v > v_th) * 1.0
    return z, v * (1 - z) + z * v_reset
