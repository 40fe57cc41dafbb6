"""Spikingformer's spiking self-attention (SSA) as a Lava Process: out = (Q (K^T V)) * scale per head.

The Process declares three spike inputs (query, key, value), one graded output and the scalar
parameters. It has no state and no synaptic delay: it reads the three operands of a step and emits the
product in the same step (receive, then send), so the neuron after it sees the attention of the same step.
`out_gain` folds the consumer neuron's input gain (dt/tau * r / v_th) in, as Dense weights do for synapses.

Floating point: out = gain * scale * q (k^T v). Fixed point: counts are integers, out = counts * multiplier
(an integer chosen by `hw_sim.chip.quantize`), clamped to 24 bits like Lava's graded messages.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


def attention_counts(q: np.ndarray, k: np.ndarray, v: np.ndarray, num_heads: int) -> np.ndarray:
    """Per-head q (k^T v) on [C, N] operands (channel c = h*d + i), exact in integers for spikes."""
    c, n = q.shape
    d = c // num_heads
    qh, kh, vh = (x.reshape(num_heads, d, n) for x in (q, k, v))
    kv = np.einsum("hin,hjn->hij", kh, vh)  # [H, d, d]: sum over tokens of k_i v_j
    return np.einsum("hin,hij->hjn", qh, kv).reshape(c, n)


def lava_to_tokens(x: np.ndarray) -> np.ndarray:
    """Lava layout (N, 1, C) -> NIR layout (C, N)."""
    return x[:, 0, :].T


def tokens_to_lava(x: np.ndarray) -> np.ndarray:
    return x.T[:, None, :]


class SpikingSelfAttention(AbstractProcess):
    """SSA over token-major spikes; ports in Lava layout (N, 1, C) like a Conv1d output."""

    def __init__(self, *, shape: tuple[int, int], num_heads: int, scale: float, out_gain: float = 1.0,
                 multiplier: int = 1, name: str | None = None) -> None:
        channels, tokens = shape
        if channels % num_heads:
            raise ValueError(f"SSA {name}: {channels} channels are not divisible by {num_heads} heads")
        super().__init__(shape=shape, name=name)
        lava_shape = (tokens, 1, channels)
        self.q_in = InPort(shape=lava_shape)
        self.k_in = InPort(shape=lava_shape)
        self.v_in = InPort(shape=lava_shape)
        self.a_out = OutPort(shape=lava_shape)
        self.num_heads = Var(shape=(1,), init=num_heads)
        self.scale = Var(shape=(1,), init=scale * out_gain)  # float model
        self.multiplier = Var(shape=(1,), init=multiplier)  # fixed model


class AbstractSSAModel(PyLoihiProcessModel):
    def _counts(self) -> np.ndarray:
        q, k, v = (lava_to_tokens(p.recv()) for p in (self.q_in, self.k_in, self.v_in))
        return attention_counts(q, k, v, int(self.num_heads[0]))


@implements(proc=SpikingSelfAttention, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySSAModelFloat(AbstractSSAModel):
    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    num_heads: np.ndarray = LavaPyType(np.ndarray, int)
    scale: np.ndarray = LavaPyType(np.ndarray, float)
    multiplier: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        self.a_out.send(tokens_to_lava(self._counts() * self.scale[0]))


@implements(proc=SpikingSelfAttention, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySSAModelFixed(AbstractSSAModel):
    q_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    k_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    v_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    num_heads: np.ndarray = LavaPyType(np.ndarray, int)
    scale: np.ndarray = LavaPyType(np.ndarray, float)
    multiplier: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def run_spk(self) -> None:
        counts = self._counts().astype(np.int64) * int(self.multiplier[0])
        self.a_out.send(tokens_to_lava(signed_clamp(counts, 24).astype(np.int32)))


def signed_clamp(x: np.ndarray, bits: int) -> np.ndarray:
    """Wrap to a signed `bits`-bit integer, as Lava's fixed-point Conv does with its output."""
    base = 1 << bits
    return (x + base // 2) % base - base // 2
