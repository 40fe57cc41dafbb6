"""Vectorised ProcessModels for Lava's own `Conv` process (same Process, same semantics, faster).

lava-nc 0.10.0's CPU Conv model loops over every (output, input) channel pair with scipy.signal.convolve2d
(torch is disabled inside Lava processes), which takes minutes per step for a 768-channel 1x1 conv. These
models compute the identical true convolution (weight layout (C_out, kW, kH, C_in), data layout (W, H, C))
with one sliding-window tensordot per group. The fixed-point model wraps the output to 24 bits and ignores
weight_exp, exactly as Lava's PyConvModelFixed does. Selected through Loihi2SimCfg's exception map.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv.process import Conv

from hw_sim.simulator.processes.ssa import signed_clamp

EXACT_IN_FLOAT64 = 2**53  # every integer of smaller magnitude, and every sum staying below it, is exact


def lava_conv(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Lava's conv (true convolution, (W, H, C) data, (C_out, kW, kH, C_in) weight) with numpy.

    Integer data give the exact integer result. numpy has no BLAS for int64 (minutes per step for the
    8-768 student's tokenizer), so integers are multiplied in float64 whenever no partial sum can reach
    2^53, which makes every product and sum exact, and in int64 otherwise.
    """
    if np.issubdtype(np.asarray(weight).dtype, np.floating):
        return _conv(x.astype(np.float64), weight, stride, padding, dilation, groups)
    x, weight = x.astype(np.int64), weight.astype(np.int64)
    if _largest_partial_sum(x, weight) < EXACT_IN_FLOAT64:
        out = _conv(x.astype(np.float64), weight.astype(np.float64), stride, padding, dilation, groups)
        return out.astype(np.int64)
    return _conv(x, weight, stride, padding, dilation, groups)


def _largest_partial_sum(x: np.ndarray, weight: np.ndarray) -> int:
    """A bound on |any partial sum| of a conv output: max |x| times the largest sum of |w| of one output."""
    per_output = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1, dtype=np.int64)
    return int(np.abs(x).max(initial=0)) * int(per_output.max(initial=0))


def _conv(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    kw, kh = weight.shape[1:3]
    w = weight[:, ::-1, ::-1, :]  # true convolution = correlation with the flipped kernel
    xp = np.pad(x, ((padding[0], padding[0]), (padding[1], padding[1]), (0, 0)))
    span_w, span_h = dilation[0] * (kw - 1) + 1, dilation[1] * (kh - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (span_w, span_h), axis=(0, 1))
    win = win[:: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]  # (Wo, Ho, C, kw, kh)
    wo, ho, c = win.shape[:3]
    if groups == 1:
        return np.tensordot(win, w, axes=([2, 3, 4], [3, 1, 2]))
    c_in, c_out = c // groups, weight.shape[0] // groups
    # one batched matrix product over the groups: (G, Wo*Ho, ci*kw*kh) @ (G, ci*kw*kh, co)
    xg = win.reshape(wo * ho, groups, c_in * kw * kh).transpose(1, 0, 2)
    wg = w.transpose(0, 3, 1, 2).reshape(groups, c_out, c_in * kw * kh).transpose(0, 2, 1)
    return np.matmul(xg, wg).transpose(1, 0, 2).reshape(wo, ho, groups * c_out)


class AbstractVectorisedConvModel(PyLoihiProcessModel):
    kernel_size: np.ndarray = LavaPyType(np.ndarray, np.int32)
    stride: np.ndarray = LavaPyType(np.ndarray, np.int32)
    padding: np.ndarray = LavaPyType(np.ndarray, np.int32)
    dilation: np.ndarray = LavaPyType(np.ndarray, np.int32)
    groups: np.ndarray = LavaPyType(np.ndarray, np.int32)
    num_message_bits: np.ndarray = LavaPyType(np.ndarray, np.int32)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32)
    num_weight_bits: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        self.a_buf = self._finish(lava_conv(s_in, self.weight, self.stride, self.padding, self.dilation,
                                            int(self.groups[0])))

    def _finish(self, a: np.ndarray) -> np.ndarray:
        return a


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt", "vectorised")
class PyConvModelVectorisedFloat(AbstractVectorisedConvModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_buf: np.ndarray = LavaPyType(np.ndarray, float)
    weight: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "vectorised")
class PyConvModelVectorisedFixed(AbstractVectorisedConvModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)

    def _finish(self, a: np.ndarray) -> np.ndarray:
        return signed_clamp(a.astype(np.int64), 24).astype(np.int32)
