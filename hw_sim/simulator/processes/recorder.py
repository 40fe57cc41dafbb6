"""A recorder: one Lava process that hands many signals of a step to the host as one flat vector.

Reading every neuron group through its own `io.extractor.Extractor` costs one OS process per group (Lava
runs each process as one); a network of 50 groups would need 50 extra processes. `Recorder` has one
in-port per recorded signal (spikes or graded synapse outputs, any shape) and, like Extractor, an out-port
flagged as an external pipe: each step it sends the concatenation (C order) to the host, which reads it
with `receive()` (a shared-memory channel, milliseconds; `Var.get` would send element by element). It has
no delay and no state. The pipe holds `buffer_size` steps; a model blocks once it is full, so the host runs
at most that many steps between reads; the host splits the vector (it knows the shapes it asked for). Lava needs ports as class attributes of a ProcessModel, so the
Process/ProcessModel classes are generated per number of ports (and cached). It records; it does not
decide what to keep (see `hw_sim.run`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class Recorder(AbstractProcess):
    """Base: in-ports in_0..in_{K-1} of the given Lava shapes, out_port of shape (sum of their sizes,)."""

    num_ports = 0

    def __init__(self, *, shapes: list[tuple[int, ...]], buffer_size: int = 1, name: str | None = None) -> None:
        if len(shapes) != self.num_ports:
            raise ValueError(f"recorder {name}: expected {self.num_ports} shapes, got {len(shapes)}")
        sizes = [int(np.prod(s)) for s in shapes]
        super().__init__(shapes=shapes, name=name)
        for i, shape in enumerate(shapes):
            setattr(self, f"in_{i}", InPort(shape=tuple(shape)))
        self.out_port = OutPort(shape=(sum(sizes),))
        self.out_port.flag_external_pipe(buffer_size=buffer_size)

    def receive(self) -> np.ndarray:
        """The recorded signals of the next step as one vector, in port order, each flattened in C order
        (blocks until the step has run)."""
        if not hasattr(self.out_port, "external_pipe_csp_recv_port"):
            raise RuntimeError("the recorder has no runtime yet: call create_runtime or run first")
        return self.out_port.external_pipe_csp_recv_port.recv()


class AbstractRecorderModel(PyLoihiProcessModel):
    num_ports = 0

    def run_spk(self) -> None:
        parts = [getattr(self, f"in_{i}").recv().reshape(-1) for i in range(self.num_ports)]
        self.out_port.csp_ports[-1].send(np.concatenate(parts).astype(np.float64))


@cache
def recorder_classes(num_ports: int) -> tuple[type, dict[str, type]]:
    """(Process class, {precision tag: ProcessModel class}) for a recorder with `num_ports` in-ports."""
    if num_ports < 1:
        raise ValueError("a recorder needs at least one signal")
    proc = type(f"Recorder{num_ports}", (Recorder,), {"num_ports": num_ports, "__module__": __name__})
    models = {}
    for precision, dtype in (("floating_pt", float), ("fixed_pt", np.int32)):
        attrs = {
            "__module__": __name__,
            "num_ports": num_ports,
            "out_port": LavaPyType(PyOutPort.VEC_DENSE, float),
            **{f"in_{i}": LavaPyType(PyInPort.VEC_DENSE, dtype) for i in range(num_ports)},
        }
        name = f"PyRecorder{num_ports}Model{'Float' if dtype is float else 'Fixed'}"
        model = type(name, (AbstractRecorderModel,), attrs)
        models[precision] = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag(precision)(model)))
    return proc, models


def make_recorder(shapes: list[tuple[int, ...]], buffer_size: int = 1, name: str | None = None) -> Recorder:
    return recorder_classes(len(shapes))[0](shapes=[tuple(s) for s in shapes], buffer_size=buffer_size, name=name)


