"""`snnpar energy`: operations and energy per image of a student, on a chip and beside fair ANN baselines.

Counts the student two ways: by the Spikformer family's convention on the torch model (with NeuroBench
2.3's metrics by its own definitions), and exactly from spikes and the NIR graph (`--nir`, or the student
lowered in memory; spikes from Norse or from the Lava simulation). Prices them:
- per operation under named profiles (arithmetic only; ANNs only on the 45 nm ones, never on a chip);
- on the fair footing of `hw_sim.analysis.mac_array`: teacher, ViT baseline and the student's own
  architecture as an ANN, int8 and fp32, arithmetic and SRAM traffic, beside the SNN on the same array,
  with one sentence saying which way the comparison falls;
- at chip level (`hw_sim.analysis.chip_energy`) on each `--chip`: mapping, energy by cost term with its
  band, time per step and per image.
Image-independent work (the teacher's text encoder) is priced once per deployment, not per image.
`--out` writes the whole report as JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hw_sim.analysis.energy_profiles import DEFAULT_PROFILE, PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="student checkpoint (.pt) written by `snnpar train`")
    parser.add_argument("--data", required=True, help="data set name: synthetic | pa100k | peta | rap")
    parser.add_argument("--root", required=True, type=Path, help="data set folder (e.g. the one `snnpar data synth` wrote)")
    parser.add_argument("--split", default="test", help="split to take images from (default: test)")
    parser.add_argument("--n", type=int, default=8, metavar="K", help="number of images to average over (default 8)")
    parser.add_argument("--nir", type=Path, help="the student's NIR graph (`snnpar export-nir`): enables the exact event count")
    parser.add_argument("--source", choices=("norse", "lava"), default="norse",
                        help="where the spikes for the exact count come from (lava: simulate the graph; needs --nir)")
    parser.add_argument("--mode", choices=("float", "fixed"), default="float", help="Lava precision with --source lava")
    parser.add_argument("--profile", action="append", choices=list(PROFILES), metavar="NAME",
                        help=f"energy profile(s) to report (repeatable; default: all). Known: {', '.join(PROFILES)}")
    parser.add_argument("--teacher", help="ANN teacher to compare with: a checkpoint path or a preset name (e.g. vtb-b16)")
    parser.add_argument("--baseline", help="ANN baseline to compare with: a checkpoint path or a preset name (e.g. vit-8-768)")
    rules = parser.add_argument_group("accounting rules (written beside every figure)")
    rules.add_argument("--encoder-once", action="store_true", help="count the encoder conv once, not at each of T steps")
    rules.add_argument("--lax", action="store_true", help="charge ACs x nonzero rate for every layer after the encoder (not only binary inputs)")
    rules.add_argument("--count-bn", action="store_true", help="charge BatchNorm as one MAC per element (convention count only)")
    rules.add_argument("--count-neuron-updates", action="store_true", help="charge one neuron update per neuron per step")
    rules.add_argument("--attention", choices=("ssa", "sdsa", "dense"), default=None,
                       help="how attention is counted in the convention count (default: as the model runs it)")
    rules.add_argument("--graph-attention", choices=("events", "ssa", "dense"), default="events",
                       help="how the SSA extension node is counted in the exact count (default: events)")
    rules.add_argument("--count-bias", action="store_true",
                       help="count one add per output of every layer with a bias (Spikingformer's energy logs do; NeuroBench does not)")
    parser.add_argument("--chip", action="append", metavar="NAME",
                        help="chip profile(s) for the chip-level energy and latency (repeatable; default: loihi2 and loihi)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="what-if: replace a chip-profile figure (e.g. core.fan_in_axons=65536); marked in the report")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    parser.add_argument("--figures", type=Path, metavar="DIR",
                        help="also draw spike rasters, activity heat maps (Fig. 4), firing rates and energy per layer/profile into DIR")


def _ann(spec: str, student_card, image_size):
    """A checkpoint path -> its model; a preset name -> the preset on the meta device (FLOPs need shapes only)."""
    import torch

    from snnpar.checkpoint import load_model
    from snnpar.errors import UserError
    from snnpar.models.registry import create_model, list_models

    if Path(spec).exists():
        model, card = load_model(spec)
        return model, tuple(card.model_kwargs.get("image_size", image_size))
    if spec not in list_models():
        raise UserError(f"--teacher/--baseline {spec!r} is neither a checkpoint file nor a model preset "
                        f"({', '.join(list_models())})")
    overrides = {"num_attributes": len(student_card.attribute_names), "image_size": tuple(image_size)}
    try:
        from snnpar.data import attribute_sentences

        with torch.device("meta"):
            return create_model(spec, **overrides, attribute_sentences=attribute_sentences(student_card.attribute_names)), image_size
    except TypeError:
        with torch.device("meta"):
            return create_model(spec, **overrides), image_size


def student_as_ann(student):
    """The student's own architecture as an ANN: one time step (ReLU in place of LIF costs no arithmetic), on meta."""
    import dataclasses

    import torch

    with torch.device("meta"):
        return type(student)(dataclasses.replace(student.config, time_steps=1))


def fair_baseline(convention, anns: dict, student=None) -> dict:
    """The ANNs and the SNN on the same 45 nm MAC array (arithmetic + SRAM traffic), int8 and fp32, with the band."""
    from hw_sim.analysis.mac_array import (
        ARITHMETIC,
        BANDS,
        ann_on_array,
        count_network,
        describe_array,
        snn_on_array,
        spiking_work,
    )

    costs = {name: count_network(model, tuple(size), name) for name, (model, size) in anns.items()}
    if student is not None:
        size = tuple(student.config.image_size)
        costs["student as ANN (T=1)"] = count_network(student_as_ann(student), size, "student as ANN (T=1)")
    work = spiking_work(convention)
    rows = {}
    for precision, arithmetic in ARITHMETIC.items():
        row = {f"SNN (T={work.time_steps})": {b: vars(snn_on_array(work, arithmetic, b)) for b in BANDS}}
        for name, cost in costs.items():
            row[name] = {b: vars(ann_on_array(cost, arithmetic, b)) for b in BANDS}
        rows[precision] = row
    snn = rows["int8"][f"SNN (T={work.time_steps})"]["typical"]
    own = rows["int8"].get("student as ANN (T=1)", {}).get("typical")
    verdict = None
    if own is not None:
        e_snn, e_ann = snn["compute"] + snn["memory"], own["compute"] + own["memory"]
        verdict = (f"On the same 45 nm MAC array at 8 bits, arithmetic and SRAM traffic counted, the SNN costs "
                   f"{e_snn * 1e6:.3g} uJ per image and its own architecture as an ANN {e_ann * 1e6:.3g} uJ: "
                   + (f"the SNN is {e_ann / e_snn:.2f}x cheaper." if e_snn < e_ann else
                      f"the ANN is {e_snn / e_ann:.2f}x cheaper."))
    return {"array": describe_array(), "networks": {n: c.to_dict() for n, c in costs.items()},
            "snn_work": work.to_dict(), "energy_j": rows, "verdict": verdict}


def chip_report(graph, exact, spikes, chips: list[str], overrides: dict[str, float] | None = None) -> dict:
    """Mapping and chip-level energy and latency per image on each chip profile (None where it does not map).

    `overrides` replace profile figures for a what-if (`--set core.fan_in_axons=65536`); reports mark them."""
    from hw_sim.analysis.chip_energy import chip_energy
    from hw_sim.analysis.energy import spike_counts
    from hw_sim.chip.mapping import map_graph
    from hw_sim.chip.profile import load_chip

    per_neuron = spike_counts(graph, spikes)
    out = {}
    for name in chips:
        chip = load_chip(name, overrides)
        mapping = map_graph(graph, chip)
        entry = {"mapping": {k: v for k, v in mapping.to_dict().items() if k != "layers"}}
        entry["energy"] = None if mapping.unmappable else chip_energy(mapping, exact, per_neuron).to_dict()
        out[chip.name] = entry
    return out


def build_report(student, card, images, graph=None, source: str = "norse", mode: str = "float",
                 anns: dict | None = None, profiles: list[str] | None = None, accounting=None,
                 graph_attention: str = "events", count_neuron_updates: bool = False,
                 chips: list[str] | None = None, chip_overrides: dict[str, float] | None = None) -> dict:
    """Everything `snnpar energy` prints, as a dict (per image, joules).

    Without a graph file the student is lowered to NIR in memory, so the exact count and the chip rows are
    always there. ANNs are priced on the 45 nm profiles and on the fair MAC array, never on a chip profile.
    """
    import torch

    from export import lower_spikingformer
    from hw_sim.analysis.energy import count_operations
    from hw_sim.analysis.energy_profiles import MissingFigure, get_profile
    from hw_sim.analysis.spikformer_energy import (
        SpikformerAccounting,
        ann_energy,
        count_spikformer_operations,
    )
    from snnpar.models.recording import record_spikes

    accounting = accounting or SpikformerAccounting(count_neuron_updates=count_neuron_updates)
    profiles = [get_profile(p) for p in (profiles or list(PROFILES))]
    convention = count_spikformer_operations(student, images, accounting, neurobench=True)
    report = {
        "images": int(images.shape[0]),
        "student": {"preset": card.preset, "parameters": convention.parameters},
        "convention": {**convention.to_dict(), "layers": None},
        "profiles": {p.name: p.describe() for p in profiles},
        "energy": {},
    }
    if graph is None:
        graph = lower_spikingformer(student)
        report["graph"] = "lowered in memory from the checkpoint"
    if source == "lava":
        from hw_sim.analysis.compare import align_by_depth, lava_runner

        result = lava_runner()(graph, images.numpy(), mode=mode)
        depth = getattr(result, "depth_shift", None) or getattr(result, "depth", None)
        spikes = align_by_depth(result.spikes, depth, student.config.time_steps)
    else:
        with torch.no_grad(), record_spikes(student) as spikes:
            student(images)
    exact = count_operations(graph, spikes, encoder_per_step=accounting.encoder_per_step, attention=graph_attention,
                             count_bias=accounting.count_bias)
    report["exact"] = {**exact.to_dict(), "source": source if source == "norse" else f"lava {mode}"}

    def priced(fn, p):
        try:
            return fn(p)
        except MissingFigure:
            return None  # no published figure: shown as n/a, never as 0

    report["exact_energy_per_node"] = {p.name: priced(lambda q: exact.energy_per_node(q, accounting.count_neuron_updates), p)
                                       for p in profiles}
    ann_counts = {name: ann_energy(model, size, name) for name, (model, size) in (anns or {}).items()}
    report["anns"] = {n: {"macs": a.macs, "once_macs": a.once_macs, "parameters": a.parameters} for n, a in ann_counts.items()}
    for p in profiles:
        row = {"snn_convention": priced(convention.energy_joules, p),
               "snn_exact": priced(lambda q: exact.energy_joules(q, count_neuron_updates=accounting.count_neuron_updates), p)}
        snn = row["snn_exact"]
        for name, a in ann_counts.items():
            if p.chip:  # an ANN does not run on a neuromorphic chip: the fair baseline prices it instead
                continue
            row[name] = a.energy_joules(p)
            row[f"{name}/snn"] = row[name] / snn if snn else float("inf")
        report["energy"][p.name] = row
    report["once_per_deployment"] = {n: {p.name: a.once_joules(p) for p in profiles if not p.chip}
                                     for n, a in ann_counts.items() if a.once_macs}
    report["fair_baseline"] = fair_baseline(convention, anns or {}, student)
    report["chips"] = chip_report(graph, exact, spikes, chips or ["loihi2", "loihi"], chip_overrides)
    return report


def _uj(value) -> str:
    return "n/a" if value is None else f"{value * 1e6:.4g} uJ"


def format_report(report: dict) -> str:
    conv = report["convention"]
    lines = [f"student {report['student']['preset']}: {report['student']['parameters'] / 1e6:.3f} M parameters; "
             f"{report['images']} image(s); per image:",
             f"  convention: {conv['acs'] / 1e6:.4g} M ACs, {conv['macs'] / 1e6:.4g} M MACs [{conv['accounting_text']}]"]
    nb = conv["neurobench"]
    ops = nb["SynapticOperations"]
    lines.append(f"  NeuroBench 2.3 metrics (its definitions, on the torch layers it hooks): Effective_ACs {ops['Effective_ACs'] / 1e6:.4g} M, "
                 f"Effective_MACs {ops['Effective_MACs'] / 1e6:.4g} M, Dense {ops['Dense'] / 1e6:.4g} M, "
                 f"ActivationSparsity {nb['ActivationSparsity']:.4f}, Footprint {nb['Footprint'] / 1e6:.3g} MB, "
                 f"ConnectionSparsity {nb['ConnectionSparsity']:.4f}")
    ex = report["exact"]
    lines.append(f"  exact ({ex['source']} spikes x graph fan-out): {ex['synaptic_ops'] / 1e6:.4g} M SOPs, "
                 f"{ex['macs'] / 1e6:.4g} M MACs (encoder {ex['encoder_macs'] / 1e6:.4g} M), {ex['neuron_updates'] / 1e6:.4g} M neuron updates, "
                 f"{ex['bias_adds'] / 1e6:.4g} M bias adds [{', '.join(f'{k}={v}' for k, v in ex['options'].items())}]")
    for name, a in report["anns"].items():
        once = f", plus {a['once_macs'] / 1e6:.4g} M MACs once per deployment (image-independent)" if a["once_macs"] else ""
        lines.append(f"  {name}: {a['parameters'] / 1e6:.3f} M parameters, {a['macs'] / 1e6:.4g} M MACs per image{once}")
    columns = list(dict.fromkeys(c for row in report["energy"].values() for c in row))
    widths = [max(len(c) + 2, 14) for c in columns]
    lines.append("arithmetic-only energy per image (ANN/SNN ratios against the exact count; ANNs are not priced on chip profiles):")
    lines.append(f"{'profile':<12}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for profile, row in report["energy"].items():
        cells = [("" if c not in row else f"{row[c]:.3f}x" if "/" in c else _uj(row[c])) for c in columns]
        lines.append(f"{profile:<12}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    lines.append("45nm figures are arithmetic only (no memory traffic); loihi2 is an upper bound derived from Hala Point; "
                 "n/a: the profile publishes no figure for a term that was asked for.")
    fair = report["fair_baseline"]
    lines.append(f"fair baseline: {fair['array']}")
    lines.append(f"  {'network':<28} {'format':<6} {'compute':>12} {'memory':>12} {'total (band low .. high)':>36}")
    for precision, row in fair["energy_j"].items():
        for name, bands in row.items():
            t = bands["typical"]
            lo, hi = (bands[b]["compute"] + bands[b]["memory"] for b in ("low", "high"))
            lines.append(f"  {name:<28} {precision:<6} {_uj(t['compute']):>12} {_uj(t['memory']):>12} "
                         f"{_uj(t['compute'] + t['memory']):>14} ({_uj(lo)} .. {_uj(hi)})")
    if fair["verdict"]:
        lines.append(f"  {fair['verdict']}")
    for entry in report["chips"].values():
        m = entry["mapping"]
        lines.append(f"chip {m['chip_title']}: {m['verdict']} (`snnpar map` for the layers)")
        if entry["energy"] is None:
            lines.append("  no chip-level energy: the graph does not map onto this chip")
            continue
        from hw_sim.analysis.chip_energy import TERMS

        e = entry["energy"]
        per = e["energy_per_image_j"]
        lines.append("  per image: " + ", ".join(f"{term} {_uj(per['typical'][term])}" for term in TERMS))
        tot = e["total_per_image_j"]
        lines.append(f"  total {_uj(tot['typical'])} ({_uj(tot['low'])} .. {_uj(tot['high'])}); time per image in a stream "
                     f"{e['time_per_image_in_a_stream_s']['typical'] * 1e3:.3g} ms, one image alone "
                     f"{e['latency_one_image_s']['typical'] * 1e3:.3g} ms")
        for node, events in e["not_priced_on_chip"].items():
            lines.append(f"  not native, not priced on the chip: {node} ({events:.4g} events)")
        lines += [f"  note: {n}" for n in e["notes"]]
    return "\n".join(lines)


def draw_figures(student, images, report: dict, normalization: dict, folder: Path) -> None:
    """The pictures of one energy run: raster, Fig. 4 heat maps and firing rates of the first image; energy."""
    import torch

    from hw_sim.analysis.plots import (
        draw_activity_heatmaps,
        draw_chip_energy,
        draw_energy,
        draw_firing_rates,
        draw_raster,
        save_figure,
    )
    from snnpar.data.transforms import denormalize
    from snnpar.models.recording import record_spikes

    with torch.no_grad(), record_spikes(student) as spikes:
        student(images[:1])
    image = denormalize(images[0], normalization)
    written = [save_figure(draw_raster(spikes), folder / "raster.png"),
               save_figure(draw_activity_heatmaps(image, spikes), folder / "activity_heatmaps.png"),
               save_figure(draw_firing_rates({"norse": {n: float(s.mean()) for n, s in spikes.items()}}),
                           folder / "firing_rates.png")]
    per_profile = {p: {k: v for k, v in row.items() if "/" not in k and v is not None} for p, row in report["energy"].items()}
    per_node = report.get("exact_energy_per_node", {}).get(DEFAULT_PROFILE, {})
    written.append(save_figure(draw_energy(per_node, per_profile), folder / "energy.png"))
    chips = {e["energy"]["chip_title"]: e["energy"]["energy_per_image_j"] for e in report.get("chips", {}).values() if e["energy"]}
    if chips:
        written.append(save_figure(draw_chip_energy(chips), folder / "chip_energy.png"))
    print("figures: " + ", ".join(str(p) for p in written))


def run(args: argparse.Namespace) -> int:
    import torch

    from hw_sim.analysis.compare import write_json
    from hw_sim.analysis.spikformer_energy import SpikformerAccounting
    from snnpar.atomic_file import check_output_file, check_output_folder
    from snnpar.checkpoint import load_model
    from snnpar.data import load_dataset
    from snnpar.errors import UserError

    if args.source == "lava" and args.nir is None:
        raise UserError("--source lava simulates the NIR graph: pass --nir model.nir (written by `snnpar export-nir`)")
    if args.out:
        check_output_file(args.out, "--out")
    if args.figures:
        check_output_folder(args.figures, "--figures")
    student, card = load_model(args.checkpoint)
    graph = None
    if args.nir is not None:
        from export import read_graph
        from export.provenance import check_graph_matches_checkpoint

        graph = read_graph(args.nir)
        check_graph_matches_checkpoint(graph, card, student.config, args.nir, args.checkpoint)
    size = tuple(student.config.image_size)
    data = load_dataset(args.data, args.root, args.split, image_size=size, normalization=card.normalization)
    n = min(args.n, len(data))
    if n == 0:
        raise UserError(f"split {args.split!r} of {args.root} has no images; choose another --split")
    images = torch.stack([data[i][0] for i in range(n)])
    anns = {}
    for role in ("teacher", "baseline"):
        spec = getattr(args, role)
        if spec:
            anns[f"{role}:{Path(spec).stem if Path(spec).exists() else spec}"] = _ann(spec, card, size)
    accounting = SpikformerAccounting(strict_binary=not args.lax, encoder_per_step=not args.encoder_once,
                                      count_batchnorm=args.count_bn, count_neuron_updates=args.count_neuron_updates,
                                      attention=args.attention, count_bias=args.count_bias)
    from hw_sim.chip.cli_map import parse_overrides

    report = build_report(student, card, images, graph, args.source, args.mode, anns, args.profile or [DEFAULT_PROFILE, *[
        p for p in PROFILES if p != DEFAULT_PROFILE]], accounting, args.graph_attention, chips=args.chip,
        chip_overrides=parse_overrides(args.set))
    print(format_report(report))
    if args.figures:
        draw_figures(student, images, report, card.normalization, args.figures)
    if args.out:
        write_json(report, args.out)
        print(f"wrote {args.out}")
    return 0
