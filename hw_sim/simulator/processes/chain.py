"""One Lava process that runs a chain of Lava processes (synapses and neuron groups) in order, every step.

Lava's CPU runtime pays a command, a reply and a channel message per process per step, which for a network
of small layers costs more than the layers compute (`hw_sim.simulator.fusion` says which chains qualify). A
`FusedChain` holds the chain's own, fully configured Lava processes (Conv, Dense, LIFReset) and, inside its
ProcessModel, instantiates each one's own ProcessModel (Lava's LIF and Dense models, our vectorised Conv),
initialises its Vars the way Lava's builder does, and calls its `run_spk` with in-memory ports in place of
channels. An in-memory port does what a channel does to the data: the sender's port type casts it, the
receiver adds it to zeros of its own type. So the chain computes what the separate processes compute, bit for
bit, including each synapse's one-step delay and LIFReset's zeroing at the group's offset; only the messages
between its members are gone. The spikes of its neuron groups leave through one extra port, `probe`,
concatenated in chain order, for the recorder.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class FusedChain(AbstractProcess):
    """`members`: (process, ProcessModel class) in signal order, `names`: the graph nodes they run, `spiking`:
    which members' outputs are spikes to record. Ports: in_port (the first member's input), out_port (the
    last member's output), probe."""

    def __init__(self, *, members: list[tuple[AbstractProcess, type]], names: list[str], spiking: list[bool],
                 name: str | None = None) -> None:
        first, last = members[0][0], members[-1][0]
        super().__init__(members=members, spiking=spiking, name=name)
        self.chain_names = list(names)
        self.in_port = InPort(shape=_only(first.in_ports).shape)
        self.out_port = OutPort(shape=_only(last.out_ports).shape)
        probe = sum(int(np.prod(_only(p.out_ports).shape)) for (p, _), s in zip(members, spiking) if s)
        self.probe = OutPort(shape=(max(probe, 1),))


def _only(ports):
    (port,) = list(ports)
    return port


class _Inbox:
    """A member's in-port: what recv() of a channel gives, zeros of the port's type plus the data sent."""

    def __init__(self, shape, d_type) -> None:
        self.zeros = np.zeros(shape, d_type)
        self.data = None

    def recv(self) -> np.ndarray:
        return self.zeros + self.data


class _Outbox:
    """A member's out-port: keeps the data as the channel's buffer (of the sender's type) would hold it."""

    def __init__(self, shape, d_type) -> None:
        self.buffer = np.zeros(shape, d_type)

    def send(self, data) -> None:
        self.buffer[:] = data


def instantiate(process: AbstractProcess, model_class: type) -> tuple[PyLoihiProcessModel, _Inbox, _Outbox]:
    """The process's own ProcessModel, with its Vars initialised as Lava's builder does and in-memory ports."""
    model = model_class(process.proc_params)
    for var in process.vars:
        lava_type = getattr(model_class, var.name, None)
        if not isinstance(lava_type, LavaPyType):
            continue
        if issubclass(lava_type.cls, np.ndarray):
            value = np.ndarray(var.shape, lava_type.d_type)
            value[:] = var.init
        else:
            value = var.init
        setattr(model, var.name, value)
    port_in, port_out = _only(process.in_ports), _only(process.out_ports)
    inbox = _Inbox(port_in.shape, getattr(model_class, port_in.name).d_type)
    outbox = _Outbox(port_out.shape, getattr(model_class, port_out.name).d_type)
    setattr(model, port_in.name, inbox)
    setattr(model, port_out.name, outbox)
    return model, inbox, outbox


class AbstractFusedChainModel(PyLoihiProcessModel):
    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self.members = [instantiate(p, model) for p, model in proc_params["members"]]
        self.spiking = proc_params["spiking"]

    def run_spk(self) -> None:
        x = self.in_port.recv()
        spikes = []
        for (model, inbox, outbox), spiking in zip(self.members, self.spiking):
            model.time_step = self.time_step
            inbox.data = x
            model.run_spk()
            x = outbox.buffer
            if spiking:
                spikes.append(x.reshape(-1))
        self.out_port.send(x)
        if spikes:
            self.probe.send(np.concatenate(spikes).astype(np.float64))


@implements(proc=FusedChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyFusedChainModelFloat(AbstractFusedChainModel):
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    probe: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


@implements(proc=FusedChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFusedChainModelFixed(AbstractFusedChainModel):
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    probe: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
