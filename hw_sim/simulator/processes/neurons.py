"""A LIF group for what Lava's LIFReset cannot say: recurrent input, a bias into the current, reset by subtraction.

`RecurrentLIFReset` is Lava's LIFReset (u and v zeroed at the group's offset in every period of the pipelined
stream) plus
- `a_rec`, an in port for recurrent edges. Lava's synapses already deliver last step's value, which is what a
  recurrent edge means; but at the group's first step of a period that value belongs to the previous image
  (or, before the first, to the warm-up), and NIR's recurrent edge carries nothing at step 0. So `a_rec` and
  `recurrent_bias` (the recurrent synapse's bias, which the edge carries with its value) count only from the
  group's second step of each period: an image in a stream computes what it computes alone.
- `current_bias`, a constant added to u every step: a synapse bias o before a CubaLIF enters its current,
  u <- u (1 - du) + gain x + gain o (`hw_sim.simulator.lowering`); Lava's own bias is added to v.
- `subtract`: reset by subtraction, v <- v - `reset_subtrahend` where a neuron fires (Norse's and snnTorch's
  reset_subtract), instead of v <- 0. lava-nc 0.10.0 has no such LIF (lava.proc.lif: LIF, LIFReset,
  TernaryLIF, LIFRefractory, LearningLIF all reset to 0).
The fixed-point model adds `current_bias` (integer, units of u) after the input's << 6, before u wraps: the
step of `snnpar.loihi2.arithmetic.lif_step`, which the integer evaluator runs.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat
from lava.proc.lif.process import LIFReset


class RecurrentLIFReset(LIFReset):
    """LIFReset with `a_rec` (recurrent input), `current_bias`, `recurrent_bias` (into u) and reset by
    subtraction (`subtract`, by `reset_subtrahend`). Float: real units; fixed: integers of u and v."""

    def __init__(self, *, shape, current_bias=0, recurrent_bias=0, subtract: bool = False, reset_subtrahend=0,
                 **kwargs) -> None:
        super().__init__(shape=shape, **kwargs)
        self.proc_params["subtract"] = bool(subtract)
        self.a_rec = InPort(shape=shape)
        self.current_bias = Var(shape=shape, init=current_bias)
        self.recurrent_bias = Var(shape=shape, init=recurrent_bias)
        self.reset_subtrahend = Var(shape=(1,), init=reset_subtrahend)


class _Periodic:
    """What both models share: the period's first step, the recurrent input, the reset."""

    def _first_step(self) -> bool:
        return (self.time_step % self.reset_interval) == self.reset_offset

    def _inputs(self):
        a, rec = self.a_in.recv(), self.a_rec.recv()
        first = self._first_step()
        if first:
            self.u *= 0
            self.v *= 0
            return a, self.current_bias
        return a + rec, self.current_bias + self.recurrent_bias

    def reset_voltage(self, spike_vector: np.ndarray):
        if self.subtract:
            self.v[spike_vector] -= self.reset_subtrahend[0]
        else:
            self.v[spike_vector] = 0


@implements(proc=RecurrentLIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRecurrentLifResetModelFloat(_Periodic, AbstractPyLifModelFloat):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_rec: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)
    current_bias: np.ndarray = LavaPyType(np.ndarray, float)
    recurrent_bias: np.ndarray = LavaPyType(np.ndarray, float)
    reset_subtrahend: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_interval = proc_params["reset_interval"]
        self.reset_offset = proc_params["reset_offset"] % self.reset_interval
        self.subtract = proc_params["subtract"]

    def spiking_activation(self):
        return self.v > self.vth

    def run_spk(self):
        a, current_bias = self._inputs()
        self.subthr_dynamics(activation_in=a + current_bias)
        s_out = self.spiking_activation()
        self.reset_voltage(spike_vector=s_out)
        self.s_out.send(s_out)


@implements(proc=RecurrentLIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecurrentLifResetModelFixed(_Periodic, AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_rec: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    vth: int = LavaPyType(int, np.int32, precision=17)
    current_bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    recurrent_bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    reset_subtrahend: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_interval = proc_params["reset_interval"]
        self.reset_offset = proc_params["reset_offset"] % self.reset_interval
        self.subtract = proc_params["subtract"]
        self._current_bias = 0

    def scale_threshold(self):
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        return self.v > self.effective_vth

    def subthr_dynamics(self, activation_in: np.ndarray):
        """Lava's fixed-point LIF step, with `current_bias` added to u after the input (before the wrap)."""
        decayed = np.int64(self.u) * (self.decay_unity - (self.du + self.ds_offset))
        decayed = np.int32(np.sign(decayed) * np.right_shift(np.abs(decayed), self.decay_shift))
        current = decayed + np.left_shift(np.int32(activation_in), self.act_shift) + np.int32(self._current_bias)
        wrapped = np.where(current > self.max_uv_val, current - 2 * self.max_uv_val, current)
        wrapped = np.where(wrapped <= -self.max_uv_val, current + 2 * self.max_uv_val, wrapped)
        self.u[:] = wrapped
        volt = np.int64(self.v) * (self.decay_unity - (self.dv + self.dm_offset))
        volt = np.int32(np.sign(volt) * np.right_shift(np.abs(volt), self.decay_shift))
        limit = np.int32(self.max_uv_val) - 1
        self.v[:] = np.clip(volt + self.u + self.effective_bias, -limit, limit)

    def run_spk(self):
        a, self._current_bias = self._inputs()
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a)
        s_out = self.spiking_activation()
        self.reset_voltage(spike_vector=s_out)
        self.s_out.send(s_out)
