"""Delay lines: one Lava process per delayed signal, one out port per distinct delay.

Lava's Dense and Conv add one step each, so branches of unequal depth that meet (residual sums, SDSA's
v AND broadcast) arrive at different steps. A `DelayLine` holds the last `max(delays)` inputs of one signal
(spikes or graded synapse outputs) and emits each delayed copy on its own port, so one process serves every
consumer of a signal. It has no intrinsic delay (receive, then send in the same step). Lava needs ports as
class attributes of a ProcessModel, so the Process/ProcessModel pairs are generated for 1..MAX_TAPS ports.
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

MAX_TAPS = 32


class DelayLine(AbstractProcess):
    """Base: in_port of `shape`, out ports out_0..out_{K-1} with delays `delays` (steps, >= 1)."""

    num_taps = 0

    def __init__(self, *, shape: tuple[int, ...], delays: list[int], name: str | None = None) -> None:
        if len(delays) != self.num_taps or min(delays) < 1:
            raise ValueError(f"delay line {name}: expected {self.num_taps} delays >= 1, got {delays}")
        super().__init__(shape=shape, delays=delays, name=name)
        self.in_port = InPort(shape=shape)
        for i in range(self.num_taps):
            setattr(self, f"out_{i}", OutPort(shape=shape))
        self.history = Var(shape=(max(delays) + 1, *shape), init=0)
        self.delays = Var(shape=(len(delays),), init=np.asarray(delays))

    def tap(self, delay: int) -> OutPort:
        return getattr(self, f"out_{list(self.delays.init).index(delay)}")


class AbstractDelayLineModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        self.history[1:] = self.history[:-1].copy()
        self.history[0] = self.in_port.recv()
        for i, d in enumerate(self.delays):
            getattr(self, f"out_{i}").send(self.history[d])


def _make_delay_line(num_taps: int):
    proc = type(f"DelayLine{num_taps}", (DelayLine,), {"num_taps": num_taps, "__module__": __name__})
    models = {}
    for precision, dtype in (("floating_pt", float), ("fixed_pt", np.int32)):
        attrs = {
            "__module__": __name__,
            "in_port": LavaPyType(PyInPort.VEC_DENSE, dtype),
            "history": LavaPyType(np.ndarray, dtype),
            "delays": LavaPyType(np.ndarray, int),
            **{f"out_{i}": LavaPyType(PyOutPort.VEC_DENSE, dtype) for i in range(num_taps)},
        }
        name = f"PyDelayLine{num_taps}Model{'Float' if dtype is float else 'Fixed'}"
        model = type(name, (AbstractDelayLineModel,), attrs)
        model = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag(precision)(model)))
        models[precision] = model
    return proc, models


DELAY_LINES: dict[int, tuple[type, dict[str, type]]] = {k: _make_delay_line(k) for k in range(1, MAX_TAPS + 1)}
globals().update({proc.__name__: proc for proc, _ in DELAY_LINES.values()})
globals().update({m.__name__: m for _, ms in DELAY_LINES.values() for m in ms.values()})


def make_delay_line(shape: tuple[int, ...], delays: list[int], name: str | None = None) -> DelayLine:
    delays = sorted(set(delays))
    if len(delays) > MAX_TAPS:
        raise ValueError(f"delay line {name}: {len(delays)} distinct delays, at most {MAX_TAPS} supported")
    return DELAY_LINES[len(delays)][0](shape=shape, delays=delays, name=name)


def delay_line_models(precision: str) -> dict[type, type]:
    """Process -> ProcessModel map for Loihi2SimCfg(exception_proc_model_map=...)."""
    return {proc: models[precision] for proc, models in DELAY_LINES.values()}
