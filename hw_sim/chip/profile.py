"""Chip profiles: a neuromorphic chip described as a data file (TOML), loaded and checked.

A profile (`hw_sim/chip/chips/<name>.toml`, or any file a user writes in the same layout) holds the chip's
resources (cores, mesh, neurons and memory per core, axon limits, weight formats), its per-event energies
and latencies and the boards it comes on. Every figure carries its source and, where sources disagree, a
band: `Figure(low, typical, high)`. A figure no source gives is marked `published = false`, and the
reports say so beside every number that uses it. The mapper (`hw_sim.chip.mapping`) and the chip-level
energy model (`hw_sim.analysis.chip_energy`) read profiles; this module only loads and validates them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from snnpar.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, released as tomli
    import tomli as tomllib

CHIP_FOLDER = Path(__file__).resolve().parent / "chips"
BANDS = ("low", "typical", "high")


@dataclass(frozen=True)
class Figure:
    """One constant of a chip with its band and where it comes from."""

    low: float
    typical: float
    high: float
    sources: tuple[str, ...] = ()
    note: str = ""
    published: bool = True

    def at(self, band: str) -> float:
        if band not in BANDS:
            raise ValueError(f"band must be one of {BANDS}, not {band!r}")
        return getattr(self, band)

    @property
    def is_band(self) -> bool:
        return not (self.low == self.typical == self.high)

    def describe(self, unit: str = "", scale: float = 1.0) -> str:
        def num(v: float) -> str:
            return f"{v * scale:.4g}{unit}"

        text = num(self.typical) if not self.is_band else f"{num(self.typical)} ({num(self.low)} .. {num(self.high)})"
        if not self.published:
            text += " [not published]"
        return text


@dataclass(frozen=True)
class Board:
    name: str
    chips: int
    source: str
    system: bool = False  # a rack of boards (Pohoiki Springs, Hala Point), not one board


@dataclass(frozen=True)
class ChipProfile:
    """A chip: resources, per-event energies (J), latencies (s), boards; all figures with sources."""

    name: str
    title: str
    path: Path
    sources: dict[str, str]
    chip: dict[str, Figure]
    core: dict[str, Figure]
    energy: dict[str, Figure]
    time: dict[str, Figure]
    barrier_sync: dict[int, float]  # routers in use -> seconds
    barrier_sync_published: bool
    boards: tuple[Board, ...] = field(default_factory=tuple)

    # -- resources (typical values: the limits a mapping is checked against)
    def limit(self, section: str, key: str) -> int:
        return int(round(getattr(self, section)[key].typical))

    def flag(self, section: str, key: str) -> bool:
        return bool(getattr(self, section)[key].typical)

    @property
    def cores_per_chip(self) -> int:
        return self.limit("chip", "cores")

    @property
    def largest_board(self) -> Board | None:
        boards = [b for b in self.boards if not b.system]
        return max(boards, key=lambda b: b.chips) if boards else None

    @property
    def largest_system(self) -> Board | None:
        return max(self.boards, key=lambda b: b.chips) if self.boards else None

    def sync_time(self, routers: int) -> float:
        """Barrier synchronisation at the end of a step: the table entry for the next larger router count."""
        keys = sorted(self.barrier_sync)
        key = next((k for k in keys if k >= routers), keys[-1])
        return self.barrier_sync[key]

    def unpublished(self) -> list[str]:
        """Dotted names of the figures that no source gives (carried over or 0)."""
        out = [f"{s}.{k}" for s in ("chip", "core", "energy", "time") for k, f in getattr(self, s).items() if not f.published]
        return out + ([] if self.barrier_sync_published else ["time.barrier_sync"])

    def source_text(self, key: str) -> str:
        return self.sources.get(key, key)


# field name -> (section, key); every profile must define all of these
REQUIRED: dict[str, tuple[str, ...]] = {
    "chip": ("cores", "mesh_width", "mesh_height", "cores_per_router", "graded_spikes", "programmable_neurons"),
    "core": ("neurons", "fan_in_axons", "fan_out_axons", "memory_bits", "neuron_state_bits", "max_weight_bits",
             "synapse_word_bits", "synapse_header_bits", "synapses_per_header", "shared_conv_weights"),
    "energy": ("synaptic_op_conv", "synaptic_op_dense", "neuron_update", "spike_out", "message", "hop_east_west",
               "hop_north_south", "static_power_per_chip"),
    "time": ("synaptic_op_conv", "synaptic_op_dense", "neuron_update", "spike_out", "message", "message_in",
             "hop_east_west", "hop_north_south", "barrier_sync"),
}
EXAMPLE = CHIP_FOLDER / "loihi2.toml"


def known_chips() -> list[str]:
    return sorted(p.stem for p in CHIP_FOLDER.glob("*.toml"))


def chip_path(spec: str | Path) -> Path:
    """A profile name (loihi2, loihi) or the path of a profile file."""
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UserError(f"chip profile {path}: no such file (give a .toml profile or one of: {', '.join(known_chips())})")
        return path
    candidate = CHIP_FOLDER / f"{spec}.toml"
    if not candidate.is_file():
        raise UserError(f"unknown chip {spec!r}: known chips are {', '.join(known_chips())}, or give the path of a .toml profile "
                        f"written like {EXAMPLE}")
    return candidate


def load_chip(spec: str | Path, overrides: dict[str, float] | None = None) -> ChipProfile:
    """Load and validate a chip profile; a missing or malformed field is a UserError naming file and field.

    `overrides` {"section.field": value} replaces figures for a what-if (e.g. a larger fan-in limit); each
    replaced figure is marked unpublished with a note, so every report shows it was set by hand.
    """
    path = chip_path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"chip profile {path}: not valid TOML ({err}); see {EXAMPLE} for the layout") from None
    where = f"chip profile {path}"
    for key in ("name", "title"):
        if not isinstance(data.get(key), str):
            raise UserError(f"{where}: missing field {key!r} (a string); see {EXAMPLE}")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise UserError(f"{where}: [sources] must be a table of key = \"reference\"")
    sections = {}
    for section, keys in REQUIRED.items():
        table = data.get(section)
        if not isinstance(table, dict):
            raise UserError(f"{where}: missing section [{section}] (it needs {', '.join(keys)}); see {EXAMPLE}")
        for key in keys:
            if key not in table:
                raise UserError(f"{where}: missing field '{section}.{key}'; every profile needs it (see {EXAMPLE})")
        sections[section] = {k: _figure(v, f"{section}.{k}", where, sources)
                             for k, v in table.items() if not (section == "time" and k == "barrier_sync")}
    sync = data["time"]["barrier_sync"]
    if not isinstance(sync, dict) or not isinstance(sync.get("table"), dict) or not sync["table"]:
        raise UserError(f"{where}: 'time.barrier_sync' needs a table {{ \"routers\" = seconds, ... }}")
    try:
        table = {int(k): float(v) for k, v in sync["table"].items()}
    except (TypeError, ValueError):
        raise UserError(f"{where}: 'time.barrier_sync.table' keys must be router counts and values seconds") from None
    boards = []
    for i, board in enumerate(data.get("boards", [])):
        try:
            boards.append(Board(str(board["name"]), int(board["chips"]), str(board.get("source", "")),
                                bool(board.get("system", False))))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: boards[{i}] needs a name and a chip count") from None
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in ("chip", "core", "energy", "time") or key not in sections.get(section, {}):
            raise UserError(f"--set {dotted}: no such figure in {path}; figures are section.field, e.g. core.fan_in_axons")
        sections[section][key] = Figure(value, value, value, (), f"set by hand to {value:g} (what-if), not the chip's figure",
                                        published=False)
    return ChipProfile(name=data["name"], title=data["title"], path=path, sources=dict(sources), chip=sections["chip"],
                       core=sections["core"], energy=sections["energy"], time=sections["time"], barrier_sync=table,
                       barrier_sync_published=bool(sync.get("published", True)), boards=tuple(boards))


def _figure(raw, name: str, where: str, sources: dict) -> Figure:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: field '{name}' must be a table like {{ value = 1.0, source = \"key\" }}")
    published = bool(raw.get("published", True))
    try:
        if "value" in raw:
            low = typical = high = _number(raw["value"])
        elif all(b in raw for b in BANDS):
            low, typical, high = (_number(raw[b]) for b in BANDS)
        else:
            raise UserError(f"{where}: field '{name}' needs 'value' or all of 'low', 'typical', 'high'")
    except (TypeError, ValueError):
        raise UserError(f"{where}: field '{name}' must hold numbers (or true/false)") from None
    if not low <= typical <= high:
        raise UserError(f"{where}: field '{name}' has low {low} > typical {typical} or typical > high {high}")
    if low < 0:
        raise UserError(f"{where}: field '{name}' is negative ({low})")
    src = raw.get("source", ())
    src = (src,) if isinstance(src, str) else tuple(src)
    unknown = [s for s in src if s not in sources]
    if unknown:
        raise UserError(f"{where}: field '{name}' cites {unknown}, which [sources] does not define")
    if published and not src:
        raise UserError(f"{where}: field '{name}' has no source; add `source = \"key\"` or mark it `published = false`")
    return Figure(low, typical, high, src, str(raw.get("note", "")), published)


def _number(value) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        raise TypeError(value)
    return float(value)
