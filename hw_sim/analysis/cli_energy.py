"""`snnpar energy`: synaptic operations and energy per image of a student, beside ANN teachers/baselines.

Counts the student two ways: by the Spikformer family's convention on the torch model (always), and,
given `--nir`, exactly from spikes and the NIR graph (spikes from Norse or from the Lava simulation).
ANNs (a teacher or ViT baseline: a checkpoint, or a preset name counted on the meta device) are
charged MACs = FLOPs / 2. Prints per profile SNN vs ANN energy per image and the ratio, with the
accounting rules and parameter counts beside; `--out` also writes the whole report as JSON.
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


def build_report(student, card, images, graph=None, source: str = "norse", mode: str = "float",
                 anns: dict | None = None, profiles: list[str] | None = None, accounting=None,
                 graph_attention: str = "events", count_neuron_updates: bool = False) -> dict:
    """Everything `snnpar energy` prints, as a dict (per image, joules)."""
    import torch

    from hw_sim.analysis.energy import count_operations
    from hw_sim.analysis.energy_profiles import get_profile
    from hw_sim.analysis.spikformer_energy import (
        SpikformerAccounting,
        ann_energy,
        count_spikformer_operations,
    )
    from snnpar.models.recording import record_spikes

    accounting = accounting or SpikformerAccounting(count_neuron_updates=count_neuron_updates)
    profiles = [get_profile(p) for p in (profiles or list(PROFILES))]
    convention = count_spikformer_operations(student, images, accounting)
    report = {
        "images": int(images.shape[0]),
        "student": {"preset": card.preset, "parameters": convention.parameters},
        "convention": {**convention.to_dict(), "layers": None},
        "profiles": {p.name: p.describe() for p in profiles},
        "energy": {},
    }
    exact = None
    if graph is not None:
        if source == "lava":
            from hw_sim.analysis.compare import align_by_depth, lava_runner

            result = lava_runner()(graph, images.numpy(), mode=mode)
            depth = getattr(result, "depth_shift", None) or getattr(result, "depth", None)
            spikes = align_by_depth(result.spikes, depth, student.config.time_steps)
        else:
            with torch.no_grad(), record_spikes(student) as spikes:
                student(images)
        encoder_once = not accounting.encoder_per_step
        exact = count_operations(graph, spikes, encoder_per_step=not encoder_once, attention=graph_attention)
        report["exact"] = {**exact.to_dict(), "source": source if source == "norse" else f"lava {mode}"}
        report["exact_energy_per_node"] = {p.name: exact.energy_per_node(p, accounting.count_neuron_updates)
                                           for p in profiles}
    ann_counts = {name: ann_energy(model, size, name) for name, (model, size) in (anns or {}).items()}
    report["anns"] = {n: {"macs": a.macs, "parameters": a.parameters} for n, a in ann_counts.items()}
    for p in profiles:
        row = {"snn_convention": convention.energy_joules(p)}
        if exact is not None:
            row["snn_exact"] = exact.energy_joules(p, count_neuron_updates=accounting.count_neuron_updates)
        snn = row.get("snn_exact", row["snn_convention"])
        for name, a in ann_counts.items():
            row[name] = a.energy_joules(p)
            row[f"{name}/snn"] = row[name] / snn if snn > 0 else float("inf")
        report["energy"][p.name] = row
    return report


def format_report(report: dict) -> str:
    conv = report["convention"]
    lines = [f"student {report['student']['preset']}: {report['student']['parameters'] / 1e6:.3f} M parameters; "
             f"{report['images']} image(s); per image:",
             f"  convention: {conv['acs'] / 1e6:.4g} M ACs, {conv['macs'] / 1e6:.4g} M MACs [{conv['accounting_text']}]"]
    if "exact" in report:
        ex = report["exact"]
        lines.append(f"  exact ({ex['source']} spikes x graph fan-out): {ex['synaptic_ops'] / 1e6:.4g} M SOPs, "
                     f"{ex['macs'] / 1e6:.4g} M MACs (encoder {ex['encoder_macs'] / 1e6:.4g} M), {ex['neuron_updates'] / 1e6:.4g} M neuron updates "
                     f"[{', '.join(f'{k}={v}' for k, v in ex['options'].items())}]")
    for name, a in report["anns"].items():
        lines.append(f"  {name}: {a['parameters'] / 1e6:.3f} M parameters, {a['macs'] / 1e6:.4g} M MACs (FLOPs / 2)")
    columns = list(next(iter(report["energy"].values())))
    widths = [max(len(c) + 2, 14) for c in columns]
    lines.append("energy per image (ANN/SNN ratios against the exact count where there is one):")
    lines.append(f"{'profile':<12}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for profile, row in report["energy"].items():
        cells = [f"{v:.3f}x" if "/" in c else f"{v * 1e6:.4g} uJ" for c, v in row.items()]
        lines.append(f"{profile:<12}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    lines.append("45nm figures are arithmetic only (no memory traffic); loihi2 is an upper bound derived from Hala Point.")
    return "\n".join(lines)


def draw_figures(student, images, report: dict, normalization: dict, folder: Path) -> None:
    """The pictures of one energy run: raster, Fig. 4 heat maps and firing rates of the first image; energy."""
    import torch

    from hw_sim.analysis.plots import (
        draw_activity_heatmaps,
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
    per_profile = {p: {k: v for k, v in row.items() if "/" not in k} for p, row in report["energy"].items()}
    per_node = report.get("exact_energy_per_node", {}).get(DEFAULT_PROFILE, {})
    written.append(save_figure(draw_energy(per_node, per_profile), folder / "energy.png"))
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
                                      attention=args.attention)
    report = build_report(student, card, images, graph, args.source, args.mode, anns, args.profile or [DEFAULT_PROFILE, *[
        p for p in PROFILES if p != DEFAULT_PROFILE]], accounting, args.graph_attention)
    print(format_report(report))
    if args.figures:
        draw_figures(student, images, report, card.normalization, args.figures)
    if args.out:
        write_json(report, args.out)
        print(f"wrote {args.out}")
    return 0
