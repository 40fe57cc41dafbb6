"""The spiking neuron of the student: Norse's LIF-box step, run over a leading time axis.

The reference implementations use SpikingJelly's MultiStepLIFNode(tau=2, hard reset to 0,
decay_input=True): v <- v + (x - v) / tau. Norse's `lif_box_feed_forward_step` integrates
dv = dt * tau_mem_inv * (v_leak - v + x) with forward Euler, which is the same update when
dt * tau_mem_inv = 1 / tau = 0.5, v_leak = 0 and v_reset = 0. Spikes fire when v > v_th.

Parameters are explicit per layer (`LIFConfig`) so the NIR exporter reads them from the module
instead of assuming them. This module deliberately holds no network structure.
"""

from __future__ import annotations

import warnings
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


class MultiStepLIF(nn.Module):
    """Norse LIF-box neurons applied to x[t] for t = 0..T-1 (time is the first axis).

    Stateless between calls: every forward starts from v = 0, as the reference does, so one call
    is one presentation of one image.
    """

    def __init__(self, config: LIFConfig = LIFConfig()):
        super().__init__()
        self.config = config
        self._params = config.norse_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self._params
        if p.tau_mem_inv.device != x.device:
            p = self._params = LIFBoxParameters(*(
                f.to(x.device) if isinstance(f, torch.Tensor) else f for f in p
            ))
        state = LIFBoxFeedForwardState(v=torch.zeros_like(x[0]))
        spikes = []
        for x_t in x:
            z, state = lif_box_feed_forward_step(x_t, state, p, self.config.dt)
            spikes.append(z)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        c = self.config
        return f"v_th={c.v_th}, decay={c.decay:g}, surrogate={c.surrogate}"


# Neuron implementations by name. The student builds every neuron through `make_lif`, so a benchmark
# can register another implementation of the same equation (e.g. SpikingJelly's) and swap it in.
NEURON_BACKENDS: dict[str, type[nn.Module]] = {"norse": MultiStepLIF}


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
