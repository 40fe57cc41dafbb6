"""Named hardware energy profiles: picojoules per operation, each with the source it comes from.

A profile turns operation counts (accumulates, multiply-accumulates, neuron updates) into energy. It
does not count operations (that is `hw_sim.analysis.energy` and `hw_sim.analysis.spikformer_energy`) and it does not
model memory traffic, routing or static power: the 45 nm CMOS figures in particular are an
arithmetic-only proxy, which is how the Spikformer family's papers use them.

Chips publish one figure per synaptic event; they have no multiply-accumulate unit for the real-valued
encoder layer. On those profiles the SNN's encoder MAC is charged as one synaptic operation (a graded
spike, as Loihi 2 can send) and `mac_note` says so beside the figure. An ANN is never priced on a chip
profile (it would not run there): its fair comparison is `hw_sim.analysis.mac_array`, and the chip-level
model of the SNN (cores, messages, static power, time) is `hw_sim.analysis.chip_energy`.
"""

from __future__ import annotations

from dataclasses import dataclass

PICO = 1e-12


class MissingFigure(ValueError):
    """A profile has no published figure for a term that was asked for (never priced as 0)."""


@dataclass(frozen=True)
class EnergyProfile:
    """Energy per operation on one piece of hardware (picojoules)."""

    name: str
    ac_pj: float  # one accumulate: a binary spike crossing one synapse
    mac_pj: float  # one multiply-accumulate: a real-valued input crossing one synapse
    neuron_update_pj: float | None  # one membrane update of one neuron for one step; None: not published
    source: str
    note: str = ""
    mac_note: str = ""
    chip: bool = False  # a neuromorphic chip's per-event figures: they price SNN events only (no ANN runs there)

    def energy_joules(self, acs: float, macs: float, neuron_updates: float = 0.0, count_neuron_updates: bool = False) -> float:
        """E = ACs * e_AC + MACs * e_MAC (+ neuron updates * e_update when asked for).

        Neuron updates are off by default: the papers this is compared with leave them out. Asking for them
        on a profile that publishes no update figure raises `MissingFigure` rather than adding 0.
        """
        energy = acs * self.ac_pj + macs * self.mac_pj
        if count_neuron_updates:
            if self.neuron_update_pj is None:
                raise MissingFigure(f"profile {self.name} publishes no neuron-update energy ({self.source}); "
                                    "its figure with neuron updates counted is not available")
            energy += neuron_updates * self.neuron_update_pj
        return energy * PICO

    def describe(self) -> str:
        parts = [f"AC {self.ac_pj:g} pJ", f"MAC {self.mac_pj:g} pJ"]
        if self.neuron_update_pj is not None:
            parts.append(f"neuron update {self.neuron_update_pj:g} pJ")
        text = f"{self.name}: {', '.join(parts)} ({self.source})"
        return text + "".join(f"; {n}" for n in (self.note, self.mac_note) if n)


_HOROWITZ = "Horowitz, '1.1 Computing's energy problem', ISSCC 2014 (45 nm CMOS)"
_ARITHMETIC_ONLY = "arithmetic only: no memory access, no data movement"
_UPDATE_AS_MAC = "a neuron update (v += (x - v) * decay) is charged as one MAC"
_MAC_AS_SYNOP = "no per-MAC figure published: a MAC is charged as one synaptic operation (graded spike)"

PROFILES: dict[str, EnergyProfile] = {
    p.name: p
    for p in (
        EnergyProfile("45nm-fp32", ac_pj=0.9, mac_pj=4.6, neuron_update_pj=4.6, source=_HOROWITZ,
                      note=f"the Spikformer family's convention; {_ARITHMETIC_ONLY}; {_UPDATE_AS_MAC}"),
        EnergyProfile("45nm-fp16", ac_pj=0.4, mac_pj=1.5, neuron_update_pj=1.5, source=_HOROWITZ,
                      note=f"{_ARITHMETIC_ONLY}; {_UPDATE_AS_MAC}"),
        EnergyProfile("45nm-int8", ac_pj=0.03, mac_pj=0.23, neuron_update_pj=0.23, source=_HOROWITZ,
                      note=f"int8 add 0.03 pJ, int8 multiply 0.2 pJ; {_ARITHMETIC_ONLY}; {_UPDATE_AS_MAC}"),
        EnergyProfile("loihi", ac_pj=23.6, mac_pj=23.6, neuron_update_pj=52.0,
                      source="Davies et al., 'Loihi: a neuromorphic manycore processor', IEEE Micro 2018 (14 nm)",
                      note="minimum synaptic op 23.6 pJ; neuron update 52 pJ (81 pJ when active); pre-silicon figures",
                      mac_note=_MAC_AS_SYNOP, chip=True),
        EnergyProfile("truenorth", ac_pj=26.0, mac_pj=26.0, neuron_update_pj=None,
                      source="Merolla et al., 'A million spiking-neuron integrated circuit...', Science 2014 (28 nm)",
                      note="26 pJ per synaptic event", mac_note=_MAC_AS_SYNOP, chip=True),
        EnergyProfile("spinnaker2", ac_pj=450.0, mac_pj=450.0, neuron_update_pj=2190.0,
                      source="Hoeppner et al. 2019, as tabulated by KerasSpiking (nengo.ai/keras-spiking)",
                      note="450 pJ per synaptic op, 2.19 nJ per neuron update", mac_note=_MAC_AS_SYNOP, chip=True),
        EnergyProfile("loihi2", ac_pj=6.8, mac_pj=6.8, neuron_update_pj=None,
                      source="Intel Hala Point, 2024: 2.6 kW at 380e12 synaptic ops/s (derived: 2.6e3 / 380e12 = 6.8 pJ)",
                      note="an UPPER BOUND derived from whole-system power, not a published per-op figure",
                      mac_note=_MAC_AS_SYNOP, chip=True),
    )
}

DEFAULT_PROFILE = "45nm-fp32"


def get_profile(name: str) -> EnergyProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown energy profile {name!r}; known: {', '.join(PROFILES)}") from None
