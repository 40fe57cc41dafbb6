"""SpikingJelly's multi-step LIF as a drop-in neuron backend: the reference implementation to measure against.

The reference Spikingformer / SNN-PAR code builds its neurons with SpikingJelly's multi-step LIF
(tau = 2, decay_input, hard reset to 0). This module wraps `spikingjelly.activation_based.neuron.LIFNode`
behind the same constructor as `snnpar.models.neurons.MultiStepLIF` (one `LIFConfig` per layer) and registers
it in `NEURON_BACKENDS` under ``"spikingjelly"``, so `create_model(..., neuron_backend="spikingjelly")` builds
the same architecture with the reference neurons. The benchmarks use it; the rest of the project never does.

The equation is the same: v <- v + (x - (v - v_reset)) / tau with tau = tau_mem / dt. SpikingJelly always
fires on v >= v_th, so only a config with firing_rule ">=" and the "sigmoid" surrogate (the reference
neuron, `NEURON_MODELS["reference"]`) has a SpikingJelly counterpart; its alpha and detach_reset are passed on.

Importing this module without SpikingJelly installed raises ImportError naming the ``bench`` extra. It
does not register anything unless SpikingJelly imports. Kernels: releases up to 0.0.0.0.14 (the newest on
Python 3.10) take a ``backend`` argument: the torch backend on CPU, CuPy kernels on CUDA tensors when
CuPy is installed. 2.0 (Python >= 3.11) has no such argument and picks its CPU / CUDA / Triton kernels
from the tensor's device; both are supported.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings

import torch
from torch import nn

from snnpar.models.neurons import NEURON_BACKENDS, LIFConfig

try:
    with warnings.catch_warnings():  # spikingjelly scripts its kernels with the deprecated torch.jit.script
        warnings.simplefilter("ignore", FutureWarning)
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "snnpar.models.neurons_spikingjelly needs SpikingJelly: `pip install spikingjelly` "
        "(the `bench` extra; on Python 3.10 the newest release is 0.0.0.0.14)"
    ) from error

BACKEND_NAME = "spikingjelly"
HAS_BACKEND_ARGUMENT = "backend" in inspect.signature(sj_neuron.LIFNode.__init__).parameters  # <= 0.0.0.0.14


def _cupy_available() -> bool:
    return importlib.util.find_spec("cupy") is not None


class SpikingJellyLIF(nn.Module):
    """SpikingJelly LIFNode(step_mode='m') for x [T, ...]; stateless between calls like `MultiStepLIF`."""

    def __init__(self, config: LIFConfig = LIFConfig()):
        super().__init__()
        if config.v_leak != config.v_reset:
            raise ValueError(
                f"SpikingJelly's LIFNode decays towards v_reset, so it needs v_leak == v_reset; got "
                f"v_leak={config.v_leak}, v_reset={config.v_reset} in {config}"
            )
        if config.firing_rule != ">=" or config.surrogate != "sigmoid":
            raise ValueError(
                f"SpikingJelly's LIFNode fires on v >= v_th with the Sigmoid surrogate; got firing_rule "
                f"{config.firing_rule!r}, surrogate {config.surrogate!r} in {config}: use the reference neurons"
            )
        self.config = config
        kernels = {"backend": "torch"} if HAS_BACKEND_ARGUMENT else {}
        self.node = sj_neuron.LIFNode(
            tau=1.0 / config.decay,
            decay_input=True,
            v_threshold=float(config.v_th),
            v_reset=float(config.v_reset),
            surrogate_function=sj_surrogate.Sigmoid(alpha=config.surrogate_alpha),
            detach_reset=config.detach_reset,
            step_mode="m",
            **kernels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if HAS_BACKEND_ARGUMENT:
            self.node.backend = "cupy" if x.is_cuda and _cupy_available() else "torch"
        self.node.reset()  # v back to v_reset: one call is one presentation, as in MultiStepLIF
        return self.node(x)

    def extra_repr(self) -> str:
        c = self.config
        return f"v_th={c.v_th}, tau={1.0 / c.decay:g}, backend=spikingjelly"


NEURON_BACKENDS.setdefault(BACKEND_NAME, SpikingJellyLIF)
