"""The integer model of a fixed-point run, batched in torch (CPU or CUDA): the one integer model of the project.

It computes what Lava's fixed-point run computes, bit for bit, from the primitives of
`snnpar.loihi2.arithmetic` (the same ones QAT trains with), for a whole batch of images at once. It runs in
NIR time: Lava delivers a synapse's output one step late and every node d synapses deep starts (LIFReset
zeroes u and v) at its depth, so Lava step t + depth of a node is NIR step t of it, and nothing a node saw
before its depth survives the reset; the pipeline changes when a value is computed, not the value. So each
NIR step evaluates every node once, in topological order, from its inputs of that step.

An edge's value comes from `_edge_value`: a recurrent edge reads its source's output of the previous NIR
step, nothing at step 0 (Lava: the synapse's one-step delay, `RecurrentLIFReset` ignoring `a_rec` at the
group's first step). Each neuron group's step is `lif_step` with its v-bias, its current bias (into u) plus,
from step 1, its recurrent synapses' bias, and its reset (to zero or by subtraction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from hw_sim.chip.quantize import Quantization, signal_unit
from hw_sim.simulator.lowering import Attention, Edge, Input, Network, Neurons, Synapse, as_3d
from snnpar.loihi2 import arithmetic as A
from snnpar.loihi2.formats import ACTIVATION_SHIFT, MESSAGE_BITS, STATE_LIMIT

DTYPE = torch.float64  # integers, exactly (see snnpar.loihi2.arithmetic)


@dataclass
class IntegerRun:
    logits: torch.Tensor  # [B, *readout shape], float64
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)  # recorded groups: [T, B, *shape], uint8
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # recorded synapse outputs: [T, B, *shape]

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits > 0


class IntegerEvaluator:
    """A lowered network with its fixed-point formats, as tensors on `device`; `run(images)` evaluates it."""

    def __init__(self, net: Network, quant: Quantization, device: str | torch.device = "cpu"):
        self.net, self.quant, self.device = net, quant, torch.device(device)
        t = lambda x: torch.tensor(np.asarray(x), dtype=DTYPE, device=self.device)  # noqa: E731
        self.weights = {n: t(quant.synapses[n].nir_weight) for n, node in net.nodes.items() if isinstance(node, Synapse)}
        self.neurons = {}
        self.voltage_dtype = {}  # float32 where `float32_voltage` proves it exact (faster), else float64
        for name, node in net.nodes.items():
            if isinstance(node, Neurons):
                fmt = quant.neurons[name].format()
                self.voltage_dtype[name] = (torch.float32 if A.float32_voltage(fmt, node.reset == "subtract")
                                            else DTYPE)
                self.neurons[name] = (fmt, t(fmt.bias.numpy()).to(self.voltage_dtype[name]))
        readout = net.readout
        self.offset = t(np.broadcast_to(readout.offset, readout.shape))
        self.units = {e.source: signal_unit(net, quant, e.source) for e in readout.inputs}
        self.float32 = {}  # synapses whose sums provably fit float32 (faster on the CPU)
        self.bound = {}  # proven bound on |output| of every synapse and attention, |input| of every group
        for name, node in net.nodes.items():
            if isinstance(node, Synapse):
                bound = self._input_bound(node)
                peak = bound * float(self.weights[name].abs().flatten(1).sum(1).max())
                A.check_exact(peak, f"synapse {name!r}")
                self.float32[name] = A.fits_float32(bound, self.weights[name], self.device)
                if self.float32[name]:
                    self.weights[name] = self.weights[name].float()
                fs = quant.synapses[name]
                self.bound[name] = peak * 2.0**fs.weight_exp if node.op == "dense" else min(peak, 2.0**(MESSAGE_BITS - 1))
            elif isinstance(node, Attention):
                channels, tokens = node.shape
                self.bound[name] = min(abs(quant.attention[name]) * channels // node.num_heads * tokens,
                                       2.0 ** (MESSAGE_BITS - 1))
            elif isinstance(node, Neurons):
                self.bound[name] = sum(1.0 if isinstance(net.nodes[e.source], Neurons) else
                                       2.0 ** (quant.config.input_bits + 8) if isinstance(net.nodes[e.source], Input)
                                       else 2.0 ** (MESSAGE_BITS - 1) if e.recurrent  # its source comes later
                                       else self.bound[e.source] for e in node.inputs)

    def _zeros(self, batch: int, node: Neurons, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros((batch, *node.shape), dtype=dtype, device=self.device)

    def _input_bound(self, syn: Synapse) -> float:
        """Largest |integer| that can reach a synapse: spikes 1, the image its bits, messages 24 (conv) / 31 bits."""
        total = 0.0
        for e in syn.inputs:
            src = self.net.nodes[e.source]
            if isinstance(src, Input):
                total += 2.0 ** (self.quant.config.input_bits + 8)  # scale rounding can exceed the nominal bits
            elif isinstance(src, Synapse):
                total += 2.0 ** (MESSAGE_BITS - 1 if src.op == "conv" else 31)
            else:
                total += 1.0
        return total

    def encode(self, images) -> torch.Tensor:
        """Images [B, *input shape] (direct encoding) or sequences [B, T, *shape] -> integers, as Lava's source."""
        x = torch.as_tensor(images).to(device=self.device, dtype=DTYPE)
        return torch.round(x * self.quant.input_scale)

    @torch.no_grad()
    def run(self, images, T: int | None = None, record: Iterable[str] | bool = False) -> IntegerRun:
        """Logits of a batch; `record` names the groups (and synapses) whose outputs to keep (True: every group)."""
        net = self.net
        T = int(T or net.time_steps or 0)
        if T <= 0:
            raise ValueError("number of time steps unknown: the graph has no metadata 'time_steps'; pass T=")
        x = self.encode(images)
        shape = tuple(net.input.shape)
        sequence = tuple(x.shape[2:]) == shape and x.shape[1] == T and tuple(x.shape[1:]) != shape
        if not sequence and tuple(x.shape[1:]) != shape:
            raise ValueError(f"expected images [B, {', '.join(map(str, shape))}] or sequences [B, {T}, ...], "
                             f"got {list(x.shape)}")
        keep = ({n for n, node in net.nodes.items() if isinstance(node, Neurons)} if record is True
                else set(record or ()))
        B = x.shape[0]
        state = {n: (self._zeros(B, node, DTYPE), self._zeros(B, node, self.voltage_dtype[n]))
                 for n, node in net.nodes.items() if isinstance(node, Neurons)}
        kept: dict[str, list[torch.Tensor]] = {n: [] for n in keep}
        readout: list[torch.Tensor] = []
        constant: dict[str, tuple[list[torch.Tensor], torch.Tensor]] = {}
        late = {e.source for node in net.nodes.values() for e in getattr(node, "inputs", []) if e.recurrent}
        previous: dict[str, torch.Tensor] = {}  # last step's outputs of the sources of recurrent edges
        for t in range(T):
            now: dict[str, torch.Tensor] = {}
            voltage: dict[str, torch.Tensor] = {}
            for name, node in net.nodes.items():
                if isinstance(node, Input):
                    now[name] = x[:, t] if sequence else x
                elif isinstance(node, Synapse):
                    sources = [now[e.source] for e in node.inputs]
                    if name in constant and all(a is b for a, b in zip(constant[name][0], sources)):
                        now[name] = constant[name][1]  # the same input as last step (direct encoding)
                    else:
                        now[name] = self._synapse(node, self._sum(node.inputs, now, B, previous))
                        if all(isinstance(net.nodes[e.source], Input) for e in node.inputs):
                            constant[name] = (sources, now[name])
                elif isinstance(node, Neurons):
                    fmt, bias = self.neurons[name]
                    current_bias = fmt.current_bias
                    if t > 0 and fmt.recurrent_bias is not None:
                        current_bias = fmt.recurrent_bias if current_bias is None else current_bias + fmt.recurrent_bias
                    current_bias = None if current_bias is None else current_bias.to(self.device)
                    z, u, v = A.lif_step(*state[name], self._sum(node.inputs, now, B, previous), fmt, bias,
                                         current_bias=current_bias, subtract=node.reset == "subtract",
                                         no_wrap=current_bias is None and self.bound[name] * 2**ACTIVATION_SHIFT < STATE_LIMIT)
                    state[name] = (u, v)
                    now[name] = z
                    if not node.spiking:  # a non-spiking group hands the readout its voltage
                        voltage[name] = v
                elif isinstance(node, Attention):
                    q, k, v = (self._edge_value(node.operands[r], now, B, previous) for r in ("query", "key", "value"))
                    now[name] = A.attention(q, k, v, node.num_heads, self.quant.attention[name])
                if name in kept:
                    kept[name].append(voltage.get(name, now[name]))
            previous = {src: now[src] for src in late}
            readout.append(sum(voltage.get(e.source, now[e.source]).reshape(B, *net.readout.shape).to(DTYPE)
                               / self.units[e.source] for e in net.readout.inputs))
        logits = A.readout(torch.stack(readout), 1.0, self.offset)
        spikes = {n: torch.stack(v).to(torch.uint8) for n, v in kept.items()
                  if isinstance(net.nodes[n], Neurons) and net.nodes[n].spiking}
        outputs = {n: torch.stack(v).to(DTYPE) for n, v in kept.items() if n not in spikes}
        return IntegerRun(logits, spikes, outputs)

    def _edge_value(self, edge: Edge, now: dict[str, torch.Tensor], batch: int,
                    previous: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """What the edge carries this step: its source's output, or last step's for a recurrent edge (None at
        step 0: it adds nothing)."""
        value = previous.get(edge.source) if edge.recurrent else now[edge.source]
        return None if value is None else value.reshape(batch, *edge.dst_shape)

    def _sum(self, edges: list[Edge], now: dict[str, torch.Tensor], batch: int,
             previous: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sum of a node's inputs: one input as it is (float32 stays float32), several in float64 (a sum of
        24-bit messages can pass 2^24)."""
        values = [v for v in (self._edge_value(e, now, batch, previous) for e in edges) if v is not None]
        if len(values) == 1:
            return values[0]
        total = values[0].to(DTYPE)
        for v in values[1:]:
            total = total + v
        return total

    def _synapse(self, node: Synapse, x: torch.Tensor) -> torch.Tensor:
        fs, w, batch = self.quant.synapses[node.name], self.weights[node.name], x.shape[0]
        if node.op == "dense":
            return A.dense(x.reshape(batch, -1), w, fs.weight_exp).reshape(batch, *node.out_shape)
        out = A.conv(x.reshape(batch, *as_3d(node.in_shape)), w, node.stride, node.padding, node.dilation, node.groups,
                     self.float32[node.name], self.bound[node.name])
        return out.reshape(batch, *node.out_shape)


def evaluate(net: Network, quant: Quantization, images, T: int | None = None, record: Iterable[str] | bool = True,
             device: str | torch.device = "cpu") -> IntegerRun:
    """One batch through `IntegerEvaluator` (build it once and call `run` for many batches)."""
    return IntegerEvaluator(net, quant, device).run(images, T, record)


def spikes_numpy(run: IntegerRun) -> dict[str, np.ndarray]:
    """Recorded spikes as numpy [T, B, *shape] uint8, as `SimulationResult.spikes`."""
    return {n: s.cpu().numpy() for n, s in run.spikes.items()}


__all__ = ["IntegerEvaluator", "IntegerRun", "evaluate", "spikes_numpy"]
