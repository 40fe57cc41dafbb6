"""Mapping a NIR graph onto a neuromorphic chip: partition every population onto cores, place, check limits.

The chip model (a `ChipProfile`, read from a data file) is the one Loihi-class chips share: a core holds up
to N neurons and the synapses *into* them, stored in its synaptic memory at the chosen weight format
(convolution kernels stored once where the chip shares them, every synapse otherwise); it accepts at most
`fan_in_axons` distinct source neurons and sends at most `fan_out_axons` output-axon entries (one per
source neuron and destination core). A spike is one message to each destination core; cores sit on a
mesh of routers, chips side by side.

- Populations are the graph's neuron nodes (LIF, IF, CubaLIF, Threshold, LI, CubaLI). A synapse node is
  stored on the cores of every population it feeds: a residual stream (a synapse output summed into
  several populations) is stored once per consumer, because synapses live with their targets.
- Each population is cut into tiles (channels x rows x columns); the tiling with the fewest
  cores that keeps every tile within the core's limits is chosen (`hw_sim.chip.geometry` counts fan-in and
  synapses per tile exactly for convolutions, pooling and matrices).
- Tiles take cores in graph order, filling one chip before the next (`Placement`).
- What the chip cannot run natively is named with the reason and the options, not silently mapped:
  the spiking self-attention product of two spike trains (no synapse multiplies two signals), a
  real-valued input on a chip without graded spikes, a synapse fed by other synapses' outputs (no neuron
  between them; a readout of that kind becomes non-spiking integrator neurons read by the host).

It does not price anything (`hw_sim.analysis.chip_energy` does, from this mapping and recorded spikes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import nir
import numpy as np

from hw_sim.chip.geometry import CONV_NODES, MATRIX_NODES, Layout, SynapseGeometry, Tiling, identity_synapse
from hw_sim.chip.profile import ChipProfile
from hw_sim.graph_edges import edge_node
from snnpar.errors import UserError

SPIKING_NODES = (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold)
NEURON_NODES = SPIKING_NODES + (nir.LI, nir.CubaLI)
SYNAPSE_NODES = CONV_NODES + MATRIX_NODES
PASSTHROUGH_NODES = (nir.Flatten, nir.ir.graph.Identity, nir.Delay)
ATTENTION_OPTIONS = [
    "host: run the product on the host CPU each step (as hw_sim's Lava SSA process does); q, k and v spikes leave "
    "the chip and the result returns as graded spikes into attn_lif, every step",
    "programmable neuron (Loihi 2 microcode): neurons that accumulate K^T V from pairs of spikes and multiply by q; "
    "no published neuron model does this, and it needs a product of two inputs per event",
    "the SDSA variant (attention='sdsa': q AND k, a sum over tokens, a threshold, a mask on v): thresholds and "
    "synapses only, native on Loihi and Loihi 2",
]


def _is_attention(node) -> bool:
    return type(node).__name__ == "SpikingSelfAttention" or getattr(node, "extension", None) == "SpikingSelfAttention"


def node_shape(node, port: str = "output") -> tuple[int, ...]:
    types = getattr(node, f"{port}_type", None) or {}
    shape = next(iter(types.values()), None)
    if shape is None or np.size(shape) == 0:
        raise UserError(f"node of type {type(node).__name__} has no {port} shape in the graph; cannot map it")
    return tuple(int(s) for s in np.atleast_1d(shape))


def as_channels(shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, positions) in NIR's channel-major flat order; a vector is channels x 1."""
    return (int(shape[0]), int(np.prod(shape[1:], dtype=int))) if len(shape) > 1 else (int(shape[0]), 1)


def layout_of(shape: tuple[int, ...]) -> Layout:
    """Channels x rows x columns: an image map as it is, a token sequence as one row, a vector as one position."""
    shape = tuple(int(s) for s in shape)
    if len(shape) >= 3:
        return shape[0], shape[1], int(np.prod(shape[2:], dtype=int))
    return (shape[0], 1, shape[1]) if len(shape) == 2 else (shape[0], 1, 1)


# ---------------------------------------------------------------- what the graph holds


@dataclass
class Group:
    """One synapse node feeding one population; stored on that population's cores."""

    synapse: str
    source: str  # a population, or the Input node (graded input from the host)
    geometry: SynapseGeometry
    from_host: bool = False  # the source is the graph's Input (real values from the host)

    @property
    def kind(self) -> str:
        return self.geometry.kind


@dataclass
class Population:
    name: str
    nir_type: str
    shape: tuple[int, ...]
    spiking: bool
    groups: list[Group] = field(default_factory=list)
    role: str = "neurons"  # neurons | integrators (a non-spiking readout of a synapse sum, read by the host)
    notes: list[str] = field(default_factory=list)
    layout: Layout = (0, 0, 0)  # channels, rows, columns

    def __post_init__(self):
        if self.layout == (0, 0, 0):
            self.layout = layout_of(self.shape)

    @property
    def channels(self) -> int:
        return self.layout[0]

    @property
    def neurons(self) -> int:
        return int(np.prod(self.layout))


@dataclass
class NotNative:
    """A node the chip cannot run as it is, why, and what it would take."""

    node: str
    nir_type: str
    reason: str
    options: list[str]


@dataclass
class HostWork:
    node: str
    what: str
    macs_per_image: float = 0.0


# ---------------------------------------------------------------- results


@dataclass
class LayerMapping:
    """One population on the chip: its tiling and the per-core figures it was checked against."""

    name: str
    nir_type: str
    role: str
    neurons: int
    groups: list[str]
    synapses: float  # stored synapses (kernels once where shared), all tiles
    memory_bits: float  # all tiles
    cores: int | None  # None: not even one neuron per core fits
    tiling: Tiling | None
    max_neurons_per_core: int = 0
    max_fan_in: float = 0.0
    max_fan_out: float = 0.0
    max_memory_bits: float = 0.0
    copies: dict[str, int] = field(default_factory=dict)
    fits: bool = True
    reason: str = ""
    first_core: int = 0
    tile_synapses: np.ndarray | None = None  # [tiles] stored synapses without sharing (where events land)
    tile_neurons: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "nir_type": self.nir_type, "role": self.role, "neurons": self.neurons,
            "synapse_groups": self.groups, "stored_synapses": self.synapses, "memory_bits": self.memory_bits,
            "cores": self.cores, "first_core": self.first_core,
            "tile": None if self.tiling is None else {"channels": self.tiling.channels, "rows": self.tiling.rows,
                                                      "columns": self.tiling.columns},
            "max_per_core": {"neurons": self.max_neurons_per_core, "fan_in_axons": self.max_fan_in,
                             "fan_out_axons": self.max_fan_out, "memory_bits": self.max_memory_bits},
            "fits": self.fits, "reason": self.reason,
        }


@dataclass
class Placement:
    """Core index -> chip and router coordinates; chips side by side along x."""

    cores_per_chip: int
    mesh_width: int
    mesh_height: int
    cores_per_router: int

    def where(self, core: int) -> tuple[int, int, int]:
        chip, local = divmod(core, self.cores_per_chip)
        router = local // self.cores_per_router
        y, x = divmod(router, self.mesh_width)
        return chip, chip * self.mesh_width + x, y

    def hops(self, a: int, b: int) -> tuple[int, int]:
        """(east-west, north-south) router hops between two cores."""
        _, ax, ay = self.where(a)
        _, bx, by = self.where(b)
        return abs(ax - bx), abs(ay - by)

    def routers_in_use(self, cores: int) -> int:
        full, rest = divmod(cores, self.cores_per_chip)
        per_chip = self.cores_per_chip // self.cores_per_router
        return full * per_chip + math.ceil(rest / self.cores_per_router)


@dataclass
class ChipMapping:
    chip: ChipProfile
    weight_bits: int
    shared_weights: bool
    populations: dict[str, Population]
    layers: dict[str, LayerMapping]
    not_native: list[NotNative]
    host: list[HostWork]
    placement: Placement
    time_steps: int | None
    depth: int  # synapse layers on the longest path: steps before the last input reaches the readout

    @property
    def cores(self) -> int:
        return sum(layer.cores or 0 for layer in self.layers.values())

    @property
    def chips(self) -> int:
        return max(1, math.ceil(self.cores / self.chip.cores_per_chip))

    @property
    def unmappable(self) -> list[LayerMapping]:
        return [layer for layer in self.layers.values() if not layer.fits]

    @property
    def fits_one_chip(self) -> bool:
        return not self.unmappable and self.cores <= self.chip.cores_per_chip

    @property
    def fits_board(self) -> bool:
        board = self.chip.largest_board
        return not self.unmappable and board is not None and self.chips <= board.chips

    def verdict(self) -> str:
        c = self.chip
        if self.unmappable:
            worst = max(self.unmappable, key=lambda x: x.max_fan_in)
            first = self.unmappable[0]
            return (f"does not map: {len(self.unmappable)} population(s) have neurons that break a core limit even alone, "
                    f"first {first.name} ({first.reason}), worst {worst.name} ({worst.max_fan_in:,.0f} input axons); "
                    f"the other populations take {self.cores:,} cores")
        cores = f"{self.cores:,} cores"
        if self.fits_one_chip:
            text = f"fits one chip: {cores} of {c.cores_per_chip}"
        else:
            board = c.largest_board
            where = (f"fits the {board.name} board ({board.chips} chips)" if self.fits_board
                     else f"does not fit the largest board ({board.name}, {board.chips} chips)" if board else "")
            system = c.largest_system
            if not self.fits_board and system is not None and system.system and self.chips <= system.chips:
                where += f", fits the {system.name} system ({system.chips:,} chips)"
            text = f"needs {self.chips:,} chips ({cores}, {c.cores_per_chip} per chip); {where}"
            biggest = max(self.layers.values(), key=lambda x: x.cores or 0)
            text += f"; the largest layer, {biggest.name}, alone takes {biggest.cores:,} cores"
        if self.not_native:
            kinds = sorted({x.nir_type for x in self.not_native})
            text += f"; not native: {len(self.not_native)} node(s) ({', '.join(kinds)})"
        return text

    def to_dict(self) -> dict:
        c = self.chip
        return {
            "chip": c.name, "chip_title": c.title, "profile": str(c.path), "weight_bits": self.weight_bits,
            "shared_conv_weights": self.shared_weights,
            "limits_per_core": {"neurons": c.limit("core", "neurons"), "fan_in_axons": c.limit("core", "fan_in_axons"),
                                "fan_out_axons": c.limit("core", "fan_out_axons"), "memory_bits": c.limit("core", "memory_bits")},
            "unpublished_figures": c.unpublished(),
            "cores": self.cores, "chips": self.chips, "cores_per_chip": c.cores_per_chip,
            "fits_one_chip": self.fits_one_chip, "fits_board": self.fits_board,
            "largest_board": None if c.largest_board is None else {"name": c.largest_board.name, "chips": c.largest_board.chips},
            "verdict": self.verdict(), "depth": self.depth,
            "layers": [layer.to_dict() for layer in self.layers.values()],
            "not_native": [vars(x) for x in self.not_native],
            "host": [vars(x) for x in self.host],
            "notes": {name: p.notes for name, p in self.populations.items() if p.notes},
        }

    def table(self) -> str:
        rows = [f"{'population':<34} {'type':<10} {'neurons':>10} {'synapses':>12} {'memory':>10} {'cores':>6} "
                f"{'fan-in':>7} {'fan-out':>7}  groups"]
        for x in self.layers.values():
            cores = f"{x.cores:,}" if x.cores is not None else "-"
            copies = sum(x.copies.values())
            rows.append(f"{x.name:<34} {x.nir_type:<10} {x.neurons:>10,} {x.synapses:>12,.0f} {_kib(x.memory_bits):>10} "
                        f"{cores:>6} {x.max_fan_in:>7,.0f} {x.max_fan_out:>7,.0f}  {copies}"
                        + ("" if x.fits else f"  DOES NOT FIT: {x.reason}"))
        total_syn = sum(x.synapses for x in self.layers.values())
        total_mem = sum(x.memory_bits for x in self.layers.values())
        label = "total (mappable layers)" if self.unmappable else "total"
        rows.append(f"{label:<45} {sum(x.neurons for x in self.layers.values()):>10,} {total_syn:>12,.0f} "
                    f"{_kib(total_mem):>10} {self.cores:>6,}")
        lines = ["\n".join(rows), f"{self.chip.title}: {self.verdict()}"]
        kinds: dict[tuple[str, str], list[NotNative]] = {}
        for x in self.not_native:
            kinds.setdefault((x.nir_type, x.reason), []).append(x)
        for (kind, reason), nodes in kinds.items():
            names = ", ".join(x.node for x in nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
            lines.append(f"not native: {names} ({kind}): {reason}")
            lines += [f"  option: {o}" for o in nodes[0].options]
        for h in self.host:
            lines.append(f"host: {h.node}: {h.what}")
        return "\n".join(lines)


def _kib(bits: float) -> str:
    return f"{bits / 8 / 1024:,.1f}K"


# ---------------------------------------------------------------- reading the graph


def _graph_populations(graph: nir.NIRGraph, chip: ChipProfile):
    nodes = graph.nodes
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in graph.edges:
        s, d = edge_node(src, nodes), edge_node(dst, nodes)
        preds[d].append(s)
        succs[s].append(d)
    known = NEURON_NODES + SYNAPSE_NODES + PASSTHROUGH_NODES + (nir.Input, nir.Output)
    for name, node in nodes.items():
        if not isinstance(node, known) and not _is_attention(node):
            raise UserError(f"node {name!r}: NIR type {type(node).__name__} cannot be mapped onto a chip; the mapper knows "
                            f"{sorted({t.__name__ for t in known})} and SpikingSelfAttention")

    def upstream(name: str) -> list[str]:
        """Nearest non-passthrough nodes feeding `name`."""
        out = []
        for p in preds[name]:
            out += upstream(p) if isinstance(nodes[p], PASSTHROUGH_NODES) else [p]
        return out

    def downstream(name: str) -> list[str]:
        out = []
        for s in succs[name]:
            out += downstream(s) if isinstance(nodes[s], PASSTHROUGH_NODES) else [s]
        return out

    populations: dict[str, Population] = {}
    not_native: list[NotNative] = []
    host: list[HostWork] = []
    for name, node in nodes.items():
        if isinstance(node, NEURON_NODES):
            populations[name] = Population(name, type(node).__name__, node_shape(node),
                                           spiking=isinstance(node, SPIKING_NODES))
    graded = chip.flag("chip", "graded_spikes")

    def _layout(name: str) -> Layout:
        return populations[name].layout if name in populations else layout_of(node_shape(nodes[name]))

    synapse_nodes = [(n, x) for n, x in nodes.items() if isinstance(x, SYNAPSE_NODES)]
    for name, node in synapse_nodes:  # 2-D windows fix their targets' row layout first
        for dst in downstream(name):
            if dst in populations:
                window = _window_layout(node, populations[dst].shape)
                if window is not None:
                    populations[dst].layout = window
    for name, pop in populations.items():  # a direct neuron -> neuron edge is a one-to-one synapse of weight 1
        for src in upstream(name):
            if isinstance(nodes[src], nir.Input):
                pop.notes.append(f"driven directly by the host input {src!r} (no synapse on the chip)")
            if src in populations:
                if as_channels(populations[src].shape) != as_channels(pop.shape):
                    raise UserError(f"edge {src!r} -> {name!r} joins neurons of shapes {populations[src].shape} and "
                                    f"{pop.shape} without a synapse; the mapper needs the same layout on both sides")
                c, n = as_channels(pop.shape)
                pop.groups.append(Group(f"{src}->{name}", src, SynapseGeometry(identity_synapse(c, n),
                                                                               populations[src].layout, pop.layout)))
    for name, node in nodes.items():
        if _is_attention(node):
            not_native.append(NotNative(name, "SpikingSelfAttention", "the spiking self-attention product q (k^T v) "
                                        "multiplies two spike trains; a synapse multiplies a spike by a stored weight",
                                        list(ATTENTION_OPTIONS)))
            for consumer in downstream(name):
                if consumer in populations:
                    populations[consumer].notes.append(f"input from {name} (not native: see its options)")
            continue
        if not isinstance(node, SYNAPSE_NODES):
            continue
        sources = upstream(name)
        consumers = downstream(name)
        direct = [s for s in sources if s in populations or isinstance(nodes[s], nir.Input)]
        if len(direct) == len(sources):
            for src in sources:
                for dst in consumers:
                    if dst in populations:
                        geometry = _geometry(name, node, src, _layout(src), populations[dst])
                        populations[dst].groups.append(Group(name, src, geometry, from_host=isinstance(nodes[src], nir.Input)))
            if any(isinstance(nodes[s], nir.Input) for s in sources) and not graded:
                not_native.append(NotNative(name, type(node).__name__, "its input is the real-valued image and the chip "
                                            "sends binary spikes only",
                                            ["host: run this layer (and its neurons) on the host and send their spikes",
                                             "rate- or latency-code the image into spikes (more steps, other accuracy)",
                                             "a chip with graded spikes (Loihi 2) takes the image as integer-valued spikes"]))
            continue
        # fed by other synapses' summed outputs: no neuron in between
        if all(isinstance(nodes[c], nir.Output) for c in consumers):
            sum_node = preds[name][0] if len(preds[name]) == 1 else name
            shape = node_shape(nodes[sum_node], "input") if isinstance(nodes[sum_node], nir.Flatten) else node_shape(node, "input")
            readout = Population(f"{name}.integrators", "integrator", shape, spiking=False, role="integrators",
                                 notes=[f"non-spiking neurons that integrate the summed outputs feeding {name} over the "
                                        "steps; the host reads them once per image and applies it"])
            populations[readout.name] = readout
            for upstream_synapse in sources:
                window = _window_layout(nodes[upstream_synapse], shape)
                if window is not None:
                    readout.layout = window
                for src in upstream(upstream_synapse):
                    geometry = _geometry(upstream_synapse, nodes[upstream_synapse], src, _layout(src), readout)
                    readout.groups.append(Group(upstream_synapse, src, geometry, from_host=isinstance(nodes[src], nir.Input)))
            weight = np.asarray(node.weight)
            host.append(HostWork(name, f"{type(node).__name__} {weight.shape[0]} x {weight.shape[-1]} on the "
                                 f"{readout.neurons:,} integrator voltages, once per image", float(np.count_nonzero(weight))))
        else:
            not_native.append(NotNative(name, type(node).__name__, "its input is other synapses' summed outputs, with no "
                                        "neuron between them; a core's synapses take spikes from neurons",
                                        ["insert a neuron population (or graded-spike relay neurons) before it",
                                         "compose its weights with the synapses that feed it"]))
    return populations, not_native, host


def _geometry(synapse: str, node, source: str, source_layout: Layout, target: Population) -> SynapseGeometry:
    """The synapse seen from its source population's layout to its target population's layout."""
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        spatial = np.atleast_1d(node.input_shape).astype(int)
        conv_in = layout_of((int(np.asarray(node.weight).shape[1]) * int(node.groups), *spatial))
        if int(np.prod(conv_in)) != int(np.prod(source_layout)) or conv_in[0] != source_layout[0]:
            raise UserError(f"synapse {synapse!r} reads {conv_in} but its input {source!r} is laid out as {source_layout}")
    try:
        return SynapseGeometry(node, source_layout, target.layout)
    except ValueError as err:
        raise UserError(f"synapse {synapse!r} from {source!r} to {target.name!r}: {err}") from None


def _window_layout(node, shape: tuple[int, ...]) -> Layout | None:
    """The row-by-column layout a 2-D window synapse gives its target (so a flattened token map keeps its rows)."""
    if isinstance(node, (nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)):
        out = node_shape(node)
        if int(np.prod(out)) == int(np.prod(shape)) and out[0] == shape[0]:
            return layout_of(out)
    return None


# ---------------------------------------------------------------- tiling


@dataclass
class _Limits:
    neurons: int
    fan_in: int
    fan_out: int
    memory_bits: int
    state_bits: int
    word: int
    header: int
    per_header: int


def _word_round(bits: np.ndarray, word: int) -> np.ndarray:
    return np.ceil(bits / word) * word


def synapse_memory_bits(synapses: np.ndarray, axons: np.ndarray, weight_bits: int, limits: _Limits,
                        shared: bool) -> np.ndarray:
    """Synaptic memory of a tile for one group: each input axon holds its synapses in runs of at most
    `per_header`, each run with a header, rounded up to whole words (NengoLoihi's format for Loihi); a shared
    kernel is one such list."""
    if shared:
        runs = np.ceil(synapses / limits.per_header)
        return _word_round(synapses * weight_bits + runs * limits.header, limits.word)
    axons = np.maximum(axons, 1)
    per_axon = synapses / axons
    runs = np.ceil(per_axon / limits.per_header)
    return axons * _word_round(per_axon * weight_bits + runs * limits.header, limits.word) * (synapses > 0)


def _sizes(n: int) -> list[int]:
    return sorted({math.ceil(n / k) for k in range(1, n + 1)}, reverse=True)


def _candidates(layout: Layout, neurons: int) -> list[Tiling]:
    """Tilings with at most `neurons` per tile, fewest cores first: channel blocks x (row blocks of whole
    rows, or parts of one row)."""
    c, h, w = layout
    shapes = [(cb, rb, w) for cb in _sizes(c) for rb in _sizes(h)] + \
             [(cb, 1, wb) for cb in _sizes(c) for wb in _sizes(w) if wb < w]
    out = [Tiling(cb, rb, wb, layout) for cb, rb, wb in shapes if cb * rb * wb <= neurons]
    return sorted(out, key=lambda x: (x.cores, -x.columns, -x.rows))


def _evaluate(pop: Population, tiling: Tiling, limits: _Limits, weight_bits: int, shared: bool,
              fan_out: np.ndarray | None):
    """Per-tile figures of one tiling and the first limit it breaks (None if it fits)."""
    shape = tiling.counts
    fan_in, memory, synapses, stored = (np.zeros(shape) for _ in range(4))
    for g in pop.groups:
        s = g.geometry.stats(tiling)
        share = shared and g.kind in ("window", "pointwise")
        fan_in += s.fan_in
        synapses += s.synapses
        stored += s.kernel if share else s.synapses
        memory += synapse_memory_bits(s.kernel if share else s.synapses, s.fan_in, weight_bits, limits, share)
    neurons = tiling.tile_neurons()
    memory += neurons * limits.state_bits
    out_axons = np.zeros(shape) if fan_out is None else tiling.sum_per_tile(fan_out).reshape(shape)
    figures = dict(fan_in=fan_in, memory=memory, synapses=synapses, stored=stored, neurons=neurons, fan_out=out_axons)
    if fan_in.max(initial=0) > limits.fan_in:
        return figures, f"fan-in {fan_in.max():,.0f} input axons per core > {limits.fan_in:,}"
    if memory.max(initial=0) > limits.memory_bits:
        return figures, f"memory {memory.max():,.0f} bits per core > {limits.memory_bits:,}"
    if out_axons.max(initial=0) > limits.fan_out:
        return figures, f"fan-out {out_axons.max():,.0f} output axons per core > {limits.fan_out:,}"
    return figures, None


def _tile(pop: Population, limits: _Limits, weight_bits: int, shared: bool, fan_out: np.ndarray | None) -> LayerMapping:
    single = Tiling(1, 1, 1, pop.layout)
    figures, failure = _evaluate(pop, single, limits, weight_bits, shared, fan_out)
    if failure is not None:  # smaller tiles cannot help: report the population as unmappable
        layer = _layer(pop, None, figures)
        layer.fits, layer.cores = False, None
        layer.reason = f"one neuron alone breaks a core limit: {failure}"
        return layer
    for tiling in _candidates(pop.layout, limits.neurons):
        figures, failure = _evaluate(pop, tiling, limits, weight_bits, shared, fan_out)
        if failure is None:
            return _layer(pop, tiling, figures)
    raise AssertionError("the one-neuron tiling fits, so some candidate must")  # pragma: no cover


def _layer(pop: Population, tiling: Tiling | None, f: dict) -> LayerMapping:
    copies: dict[str, int] = {}
    for g in pop.groups:
        copies[g.synapse] = copies.get(g.synapse, 0) + 1
    return LayerMapping(
        name=pop.name, nir_type=pop.nir_type, role=pop.role, neurons=pop.neurons, groups=[g.synapse for g in pop.groups],
        synapses=float(f["stored"].sum()), memory_bits=float(f["memory"].sum()),
        cores=tiling.cores if tiling else None, tiling=tiling,
        max_neurons_per_core=int(f["neurons"].max(initial=0)), max_fan_in=float(f["fan_in"].max(initial=0)),
        max_fan_out=float(f["fan_out"].max(initial=0)), max_memory_bits=float(f["memory"].max(initial=0)),
        copies=copies, tile_synapses=f["synapses"].ravel(), tile_neurons=f["neurons"].ravel())


def _fan_out(populations: dict[str, Population], layers: dict[str, LayerMapping]) -> dict[str, np.ndarray]:
    """Output-axon entries per source neuron: target tiles reached, summed over every group it feeds."""
    out = {name: np.zeros(p.neurons) for name, p in populations.items()}
    for dst, pop in populations.items():
        tiling = layers[dst].tiling
        if tiling is None:
            continue
        for g in pop.groups:
            if g.source in out:
                out[g.source] += g.geometry.reach_per_source(tiling)
    return out


def _max_tile_sum(values: np.ndarray, tiling: Tiling) -> float:
    return float(tiling.sum_per_tile(values).max(initial=0))


def _depth(populations: dict[str, Population]) -> int:
    memo: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in populations:
            return 0
        if name not in memo:
            memo[name] = max([depth(g.source) + 1 for g in populations[name].groups] or [0])
        return memo[name]

    return max([depth(n) for n in populations] or [0])


def map_graph(graph: nir.NIRGraph, chip: ChipProfile, weight_bits: int | None = None,
              shared_weights: bool | None = None) -> ChipMapping:
    """Partition every population of `graph` onto cores of `chip`, place the cores, check every limit."""
    max_bits = chip.limit("core", "max_weight_bits")
    weight_bits = max_bits if weight_bits is None else int(weight_bits)
    if not 1 <= weight_bits <= max_bits:
        raise UserError(f"--weight-bits {weight_bits}: {chip.title} stores 1 to {max_bits}-bit weights")
    can_share = chip.flag("core", "shared_conv_weights")
    if shared_weights and not can_share:
        raise UserError(f"{chip.title} does not share convolution weights across positions (profile {chip.path}); "
                        "map without --shared-weights")
    shared = can_share if shared_weights is None else bool(shared_weights)
    limits = _Limits(*(chip.limit("core", k) for k in ("neurons", "fan_in_axons", "fan_out_axons", "memory_bits",
                                                         "neuron_state_bits", "synapse_word_bits", "synapse_header_bits",
                                                         "synapses_per_header")))
    populations, not_native, host = _graph_populations(graph, chip)
    if not populations:
        raise UserError("the graph has no neuron nodes (LIF, IF, CubaLIF, Threshold, LI, CubaLI): nothing to map onto cores")
    layers = {name: _tile(pop, limits, weight_bits, shared, None) for name, pop in populations.items()}
    for _ in range(8):  # fan-out depends on the destinations' tilings: re-tile the sources that break it
        fan_out = _fan_out(populations, layers)
        broken = [name for name, layer in layers.items() if layer.tiling is not None
                  and _max_tile_sum(fan_out[name], layer.tiling) > limits.fan_out]
        for name in broken:
            layers[name] = _tile(populations[name], limits, weight_bits, shared, fan_out[name])
        if not broken:
            break
    fan_out = _fan_out(populations, layers)
    for name, layer in layers.items():
        if layer.tiling is not None:
            layer.max_fan_out = _max_tile_sum(fan_out[name], layer.tiling)
    first = 0
    for layer in layers.values():
        layer.first_core = first
        first += layer.cores or 0
    placement = Placement(chip.cores_per_chip, chip.limit("chip", "mesh_width"), chip.limit("chip", "mesh_height"),
                          chip.limit("chip", "cores_per_router"))
    meta = dict(graph.metadata or {})
    return ChipMapping(chip, weight_bits, shared, populations, layers, not_native, host, placement,
                       meta.get("time_steps"), _depth(populations))

