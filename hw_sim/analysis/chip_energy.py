"""Chip-level energy and latency of an SNN per image: recorded spikes x a core mapping x a chip profile.

The per-event model is SANA-FE's (Boyle et al., IEEE TCAD 2025; its Loihi figures in
hw_sim/chip/chips/loihi.toml), driven by what actually happened in a run:

- synaptic events: each spike x the synapses it crosses, from the one counter every spike source shares
  (`hw_sim.analysis.energy.count_operations`: Norse, Lava float or fixed); a synapse stored on several
  populations (a residual stream) does its events once per copy; a graded input (the image sent by the
  host on a chip with graded spikes) crosses its synapses as graded events;
- neuron updates: every neuron of every population at every step, as the chip updates them;
- spikes out and spike messages: one message per spike and destination core (`SynapseGeometry.deliveries`
  on the mapping's tiles), each travelling its router hops east-west and north-south between the cores
  the placement gave source and destination;
- static energy: static power per chip x chips x the run time of one image in a stream (T steps);
- time per step: the busiest core's work (events, updates, spikes, messages in and out, each at the
  profile's latency), plus the longest route and the end-of-step barrier (SANA-FE's simple timing model:
  no network contention); one image alone also waits for the pipeline to fill (depth steps).

Every term is priced at the profile's low, typical and high figure: the band. What the chip cannot run
natively (the SSA product; a real-valued input on a chip without graded spikes) is counted and named,
not priced on the chip; work done on the host (the readout's matrix) likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hw_sim.chip.mapping import ChipMapping
from hw_sim.chip.profile import BANDS

TERMS = ("synaptic", "neuron_updates", "spikes_out", "messages", "router_hops", "static")


@dataclass
class ChipEnergy:
    """Energy (J) and time (s) per image on one chip profile, per band."""

    chip: str
    chip_title: str
    time_steps: int
    chips: int
    counts: dict[str, float]
    energy: dict[str, dict[str, float]]  # band -> term -> J
    step_time: dict[str, float]  # band -> s
    depth: int
    not_priced: dict[str, float] = field(default_factory=dict)  # node -> events (not native on the chip)
    host_macs: float = 0.0
    notes: list[str] = field(default_factory=list)

    def total(self, band: str = "typical") -> float:
        return sum(self.energy[band].values())

    def stream_time(self, band: str = "typical") -> float:
        """Time per image when images stream through (T steps each)."""
        return self.time_steps * self.step_time[band]

    def latency(self, band: str = "typical") -> float:
        """Time for one image alone: T steps plus the pipeline's depth."""
        return (self.time_steps + self.depth) * self.step_time[band]

    def to_dict(self) -> dict:
        return {
            "chip": self.chip, "chip_title": self.chip_title, "time_steps": self.time_steps, "chips": self.chips,
            "counts_per_image": self.counts, "energy_per_image_j": self.energy,
            "total_per_image_j": {b: self.total(b) for b in BANDS},
            "time_per_step_s": self.step_time, "time_per_image_in_a_stream_s": {b: self.stream_time(b) for b in BANDS},
            "latency_one_image_s": {b: self.latency(b) for b in BANDS}, "pipeline_depth": self.depth,
            "not_priced_on_chip": self.not_priced, "host_macs_per_image": self.host_macs, "notes": self.notes,
        }

    def table(self) -> str:
        lines = [f"{self.chip_title}, per image (T = {self.time_steps}, {self.chips} chip(s)); typical (low .. high):"]
        for term in TERMS:
            t, lo, hi = (self.energy[b][term] for b in ("typical", "low", "high"))
            lines.append(f"  {term:<15} {_uj(t):>12}  ({_uj(lo)} .. {_uj(hi)})")
        lines.append(f"  {'total':<15} {_uj(self.total()):>12}  ({_uj(self.total('low'))} .. {_uj(self.total('high'))})")
        lines.append(f"  time per step {self.step_time['typical'] * 1e6:.3g} us ({self.step_time['low'] * 1e6:.3g} .. "
                     f"{self.step_time['high'] * 1e6:.3g}); per image in a stream {self.stream_time() * 1e3:.3g} ms; "
                     f"one image alone {self.latency() * 1e3:.3g} ms (depth {self.depth})")
        c = self.counts
        lines.append(f"  counts: {c['synaptic_events']:.4g} synaptic events ({c['graded_events']:.4g} graded), "
                     f"{c['neuron_updates']:.4g} neuron updates, {c['spikes']:.4g} spikes, {c['messages']:.4g} messages, "
                     f"{c['hops_east_west'] + c['hops_north_south']:.4g} router hops")
        for node, events in self.not_priced.items():
            lines.append(f"  not priced on the chip (not native): {node}: {events:.4g} events")
        if self.host_macs:
            lines.append(f"  host: {self.host_macs:.4g} MACs per image (the readout; not priced on the chip)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _uj(joules: float) -> str:
    return f"{joules * 1e6:.4g} uJ"


def chip_energy(mapping: ChipMapping, count, spikes: Mapping[str, np.ndarray], time_steps: int | None = None) -> ChipEnergy:
    """Energy and time per image from an `OperationCount`, spikes per neuron (`energy.spike_counts`) and a mapping."""
    chip = mapping.chip
    steps = int(time_steps or count.time_steps)
    if mapping.unmappable:
        names = ", ".join(x.name for x in mapping.unmappable[:3])
        raise ValueError(f"the mapping onto {chip.title} has layers that do not fit a core ({names}); no chip-level energy")
    graded = chip.flag("chip", "graded_spikes")
    place = mapping.placement
    events = {"window": 0.0, "dense": 0.0}
    graded_events = 0.0
    neuron_updates = 0.0
    messages = 0.0
    hops_ew = hops_ns = 0.0
    core_events = {"window": np.zeros(mapping.cores), "dense": np.zeros(mapping.cores)}
    core_msgs_out = np.zeros(mapping.cores)
    core_msgs_in = np.zeros(mapping.cores)
    core_spikes = np.zeros(mapping.cores)
    core_neurons = np.zeros(mapping.cores)
    longest = {b: 0.0 for b in BANDS}
    not_priced: dict[str, float] = {}
    for name, pop in mapping.populations.items():
        layer = mapping.layers[name]
        tiling = layer.tiling
        dst_cores = np.arange(layer.first_core, layer.first_core + layer.cores)
        neuron_updates += pop.neurons * steps
        core_neurons[dst_cores] += tiling.tile_neurons().ravel()
        if name in spikes:
            core_spikes[dst_cores] += tiling.sum_per_tile(spikes[name])
        share = np.asarray(layer.tile_synapses, dtype=float)
        share = share / share.sum() if share.sum() > 0 else np.full(len(dst_cores), 1.0 / len(dst_cores))
        for g in pop.groups:
            kind = "window" if g.kind in ("window", "pointwise") else "dense"
            if g.from_host:
                n = count.nodes[g.synapse].macs
                if not graded:
                    not_priced[g.synapse] = not_priced.get(g.synapse, 0.0) + n
                    continue
                graded_events += n
                source = np.full(g.geometry.n_in, float(steps))  # every pixel sent every step
                delivered = g.geometry.deliveries(source, None, tiling)
            else:
                n = _group_events(g, count, spikes)
                source_layer = mapping.layers[g.source]
                delivered = g.geometry.deliveries(spikes[g.source], source_layer.tiling, tiling)
            events[kind] += n
            core_events[kind][dst_cores] += n * share
            messages += delivered.sum()
            core_msgs_in[dst_cores] += delivered.sum(axis=0)
            if not g.from_host:
                src_cores = np.arange(source_layer.first_core, source_layer.first_core + source_layer.cores)
                core_msgs_out[src_cores] += delivered.sum(axis=1)
                ew, ns = _hop_matrices(place, src_cores, dst_cores)
                hops_ew += float((delivered * ew).sum())
                hops_ns += float((delivered * ns).sum())
                routed = delivered > 0
                for b in BANDS:
                    route = ew * chip.time["hop_east_west"].at(b) + ns * chip.time["hop_north_south"].at(b)
                    longest[b] = max(longest[b], float(route[routed].max(initial=0.0)))
    for node in mapping.not_native:
        if node.node in count.nodes and node.node not in not_priced:
            n = count.nodes[node.node]
            not_priced[node.node] = n.synaptic_ops + n.macs
    spike_total = float(sum(np.asarray(spikes[n]).sum() for n in mapping.populations if n in spikes))
    counts = {"synaptic_events": events["window"] + events["dense"], "window_events": events["window"],
              "dense_events": events["dense"], "graded_events": graded_events, "neuron_updates": neuron_updates,
              "spikes": spike_total, "messages": messages, "hops_east_west": hops_ew, "hops_north_south": hops_ns}
    step_time = {}
    energy = {}
    routers = place.routers_in_use(mapping.cores)
    for b in BANDS:
        e, t = chip.energy, chip.time
        per_core = (core_events["window"] * t["synaptic_op_conv"].at(b) + core_events["dense"] * t["synaptic_op_dense"].at(b)
                    + core_neurons * steps * t["neuron_update"].at(b)
                    + core_spikes * t["spike_out"].at(b) + core_msgs_out * t["message"].at(b)
                    + core_msgs_in * t["message_in"].at(b)) / steps
        step_time[b] = float(per_core.max(initial=0.0)) + longest[b] + chip.sync_time(routers)
        energy[b] = {
            "synaptic": events["window"] * e["synaptic_op_conv"].at(b) + events["dense"] * e["synaptic_op_dense"].at(b),
            "neuron_updates": neuron_updates * e["neuron_update"].at(b),
            "spikes_out": spike_total * e["spike_out"].at(b),
            "messages": messages * e["message"].at(b),
            "router_hops": hops_ew * e["hop_east_west"].at(b) + hops_ns * e["hop_north_south"].at(b),
            "static": e["static_power_per_chip"].at(b) * mapping.chips * steps * step_time[b],
        }
    notes = [f"figures not published for {chip.title} (carried over or 0, see {chip.path.name}): "
             + ", ".join(chip.unpublished())] if chip.unpublished() else []
    if not_priced:
        notes.append("nodes the chip cannot run natively are counted, not priced on the chip: see `snnpar map` for options")
    return ChipEnergy(chip.name, chip.title, steps, mapping.chips, counts, energy, step_time, mapping.depth,
                      not_priced, sum(h.macs_per_image for h in mapping.host), notes)


def _group_events(group, count, spikes) -> float:
    """Synaptic events of one stored copy of a synapse: the node's own count (one counter for all sources)."""
    if group.synapse in count.nodes:
        return count.nodes[group.synapse].synaptic_ops
    return float(np.asarray(spikes[group.source]).sum())  # a direct neuron-to-neuron edge: one event per spike


def _hop_matrices(place, src_cores: np.ndarray, dst_cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    src = np.array([place.where(int(c))[1:] for c in src_cores])
    dst = np.array([place.where(int(c))[1:] for c in dst_cores])
    ew = np.abs(src[:, None, 0] - dst[None, :, 0]).astype(float)
    ns = np.abs(src[:, None, 1] - dst[None, :, 1]).astype(float)
    return ew, ns
