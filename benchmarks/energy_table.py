"""The energy table behind the paper's claim: SNN-PAR 8-768 vs the ViT-B/16 teacher and the ViT student, per image.

The paper (SNN-PAR) claims lower energy than its ANN counterparts but never puts a number on it. This
script does, per image, three ways, all in one run:
  1. arithmetic only, under every profile of `hw_sim.analysis.energy_profiles` (the papers' convention):
     the student's operations by the Spikformer family's rules (`hw_sim.analysis.spikformer_energy`), the
     teacher "vtb-b16" and the ANN student "vit-8-768" as MACs (`hw_sim.analysis.mac_array.count_network`,
     the teacher's text encoder apart: it runs once, not per image); ANNs are priced on the 45 nm rows only;
  2. the fair baseline (`hw_sim.analysis.mac_array`): teacher, ViT student and the student's own
     architecture as an ANN, int8 and fp32, arithmetic plus SRAM traffic, beside the SNN on the same array;
  3. on the chip (`--chip`, default Loihi 2): the student's NIR graph mapped onto cores
     (`hw_sim.chip.mapping`) and, where it maps, its energy by cost term and its time per image
     (`hw_sim.analysis.chip_energy`) from the spikes of this run; `--set core.fan_in_axons=N` asks what-if.
The student's firing rates come from one forward pass: of a given checkpoint (--checkpoint), or of the
untrained student with BatchNorm calibrated on random batches (the default; the table says which, and
untrained rates are not a trained network's).

    .venv/bin/python benchmarks/energy_table.py            # 8-768 vs vtb-b16 vs vit-8-768 at 256x128, T=8
    .venv/bin/python benchmarks/energy_table.py --quick    # snnpar-tiny vs vtb-tiny vs vit-tiny
    .venv/bin/python benchmarks/energy_table.py --set core.fan_in_axons=65536   # chip what-if
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # hw_sim is a top-level folder of the repo
warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.script deprecation, from Norse's import

import torch  # noqa: E402
from timing import format_table  # noqa: E402
from workloads import calibrate_batchnorm, images, load_student_checkpoint, student  # noqa: E402

FULL = {"student": "snnpar-8-768", "teacher": "vtb-b16", "baseline": "vit-8-768", "image_size": (256, 128)}
QUICK = {"student": "snnpar-tiny", "teacher": "vtb-tiny", "baseline": "vit-tiny", "image_size": (128, 64)}


def ann_models(names: list[str], image_size: tuple[int, int], num_attributes: int) -> dict:
    from snnpar.models.registry import create_model

    out = {}
    for name in names:
        with torch.device("meta"):  # shapes only: counting a ViT-B/16 takes a second
            out[name] = (create_model(name, num_attributes=num_attributes, image_size=image_size), image_size)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny presets (smoke test)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained student checkpoint for firing rates")
    parser.add_argument("--images", type=int, default=1, help="random images the student's rates are averaged over")
    parser.add_argument("--chip", action="append", metavar="NAME", help="chip profile(s) (default: loihi2)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="what-if: replace a chip-profile figure, e.g. core.fan_in_axons=65536")
    args = parser.parse_args(argv)
    from export import lower_spikingformer
    from hw_sim.analysis.cli_energy import chip_report, fair_baseline
    from hw_sim.analysis.energy import count_operations
    from hw_sim.analysis.energy_profiles import PROFILES
    from hw_sim.analysis.spikformer_energy import (
        SpikformerAccounting,
        ann_energy,
        count_spikformer_operations,
    )
    from hw_sim.chip.cli_map import parse_overrides
    from snnpar.models.recording import record_spikes

    setting = QUICK if args.quick else FULL
    image_size = setting["image_size"]
    if args.checkpoint:
        model, source = load_student_checkpoint(args.checkpoint)
        image_size = tuple(model.config.image_size)
    else:
        model = calibrate_batchnorm(student(setting["student"], image_size, None), image_size, batches=1, batch=2)
        source = f"untrained {setting['student']}, BN calibrated on random images (rates are not a trained network's)"
    x = images(args.images, image_size, seed=11)
    accountings = {"papers' rules": SpikformerAccounting(), "encoder once": SpikformerAccounting(encoder_per_step=False)}
    snn = {label: count_spikformer_operations(model, x, acc) for label, acc in accountings.items()}
    models = ann_models([setting["teacher"], setting["baseline"]], image_size, model.config.num_attributes)
    anns = [ann_energy(m, size, name=name) for name, (m, size) in models.items()]

    first = next(iter(snn.values()))
    rate = first.spikes / max(first.neuron_steps, 1.0)
    ops_rows = [[f"{setting['student']} ({label})", first.parameters, c.macs / 1e9, c.acs / 1e9, 0.0, rate]
                for label, c in snn.items()]
    ops_rows += [[a.name, a.parameters, a.macs / 1e9, 0.0, a.once_macs / 1e9, float("nan")] for a in anns]
    cfg = model.config
    print(format_table(
        ["model", "parameters", "GMAC / image", "GAC / image", "GMAC once", "firing rate"], ops_rows,
        title=f"Operations per image at {image_size[0]}x{image_size[1]}, student T={cfg.time_steps}, "
              f"{cfg.num_attributes} attributes; student rates from: {source}; averaged over {args.images} image(s); "
              "'GMAC once': image-independent work (the teacher's text encoder on its fixed sentences), priced once",
    ))
    rows = []
    for name, profile in PROFILES.items():
        e_snn = {label: c.energy_joules(profile) * 1e3 for label, c in snn.items()}
        e_ann = [float("nan") if profile.chip else a.energy_joules(profile) * 1e3 for a in anns]
        for label, e in e_snn.items():
            rows.append([name, label, e, e_ann[0], e_ann[1], e_ann[0] / e, e_ann[1] / e])
    print(format_table(
        ["profile", "SNN accounting", f"{setting['student']} mJ", f"{anns[0].name} mJ", f"{anns[1].name} mJ",
         "teacher / SNN", "ViT / SNN"], rows,
        title="Arithmetic-only energy per image (mJ) and ANN / SNN ratios (profiles: hw_sim.analysis.energy_profiles); "
              "n/a: an ANN is not priced on a neuromorphic chip (the fair baseline below replaces it)",
    ))
    for label, c in snn.items():
        print(f"  {label}: {c.accounting.describe()}")

    fair = fair_baseline(first, models, model)
    fair_rows = []
    for precision, row in fair["energy_j"].items():
        for name, bands in row.items():
            t = bands["typical"]
            lo, hi = (bands[b]["compute"] + bands[b]["memory"] for b in ("low", "high"))
            fair_rows.append([name, precision, t["compute"] * 1e6, t["memory"] * 1e6, (t["compute"] + t["memory"]) * 1e6,
                              lo * 1e6, hi * 1e6])
    print(format_table(["network", "format", "compute uJ", "memory uJ", "total uJ", "low uJ", "high uJ"], fair_rows,
                       title=f"Fair baseline per image: {fair['array']}"))
    print(f"  {fair['verdict']}")

    graph = lower_spikingformer(model)
    with torch.no_grad(), record_spikes(model) as spikes:
        model(x)
    exact = count_operations(graph, spikes)
    for name, entry in chip_report(graph, exact, spikes, args.chip or ["loihi2"], parse_overrides(args.set)).items():
        m = entry["mapping"]
        print(f"\nChip {m['chip_title']} ({name}): {m['verdict']}")
        if m["unpublished_figures"]:
            print(f"  figures not published (carried over, 0, or set with --set): {', '.join(m['unpublished_figures'])}")
        if entry["energy"] is None:
            print("  no chip-level energy: the graph does not map (try a what-if, e.g. --set core.fan_in_axons=65536)")
            continue
        e = entry["energy"]
        per = e["energy_per_image_j"]
        chip_rows = [[term, per["typical"][term] * 1e6, per["low"][term] * 1e6, per["high"][term] * 1e6] for term in per["typical"]]
        chip_rows.append(["total", *(e["total_per_image_j"][b] * 1e6 for b in ("typical", "low", "high"))])
        print(format_table(["term", "typical uJ", "low uJ", "high uJ"], chip_rows,
                           title=f"Chip-level energy per image on {m['chip_title']}, {m['chips']} chip(s), {m['cores']:,} cores"))
        print(f"  time per image in a stream {e['time_per_image_in_a_stream_s']['typical'] * 1e3:.3g} ms "
              f"({e['time_per_image_in_a_stream_s']['low'] * 1e3:.3g} .. {e['time_per_image_in_a_stream_s']['high'] * 1e3:.3g}); "
              f"one image alone {e['latency_one_image_s']['typical'] * 1e3:.3g} ms")
        for node, events in e["not_priced_on_chip"].items():
            print(f"  not native, not priced on the chip: {node} ({events:.4g} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
