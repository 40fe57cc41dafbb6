"""`snnpar ablate`: the knowledge-distillation ablation of the paper's Table 3 on one data set.

Trains the same student four times from the same seed (no KD, feature KD, response KD, both), scores
each run's best checkpoint on the test split and prints the table (mA and F1 as in the paper, plus
Acc, Prec and Recall). Runs go to OUT/{none,feature,response,both}; finished rows are reused, so a
killed ablation continues with `--resume` (which also resumes a run killed half-way). With
`--seeds 0 1 2` every row is trained once per seed (OUT/seed{S}/{row}) and the table gives mean ± std
(sample standard deviation) over the seeds; ablation.csv keeps every run. Seeds can run in separate
processes (`--seeds 0`, `--seeds 1`, ... into the same OUT); `--seeds 0 1 2 --resume` then reuses them all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnpar.errors import UserError

ROWS = (("none", False, False), ("feature", True, False), ("response", False, True), ("both", True, True))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from snnpar.train_cli import add_training_arguments

    parser.add_argument("--model", required=True, help="student preset, e.g. snnpar-tiny or snnpar-8-768")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the four runs and ablation.csv / .md")
    parser.add_argument("--split", help="split the rows are scored on (default: the data set's test split)")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs in DIR and resume a killed one")
    parser.add_argument("--seeds", type=int, nargs="+", help="train every row once per seed; mean ± std over them")
    add_training_arguments(parser, with_model=False)
    parser.set_defaults(kd=None)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnpar.atomic_file import check_output_folder
    from snnpar.evaluate import evaluate_checkpoint, format_table, table1_row, write_csv, write_text
    from snnpar.train import RECIPES, STATE_FILE, Trainer, read_run_config
    from snnpar.train_cli import build_config

    out = Path(args.out)
    if not args.teacher:
        raise UserError("the ablation needs --teacher CKPT (rows 2-4 distil from it)")
    check_output_folder(out, "--out")
    seeds = args.seeds or [args.seed if args.seed is not None else 0]
    runs = []
    args.out = str(out / "none")  # placeholder; each row gets its own folder below
    base = build_config(args)
    split = args.split or base.test_split
    for seed in seeds:
        for number, (kd, feature, response) in enumerate(ROWS, start=1):
            run_dir = out / f"seed{seed}" / kd if args.seeds else out / kd
            weights = {k: getattr(args, k) for k in ("bce_weight", "response_weight", "feature_weight")
                       if getattr(args, k) is not None}  # given: as given; else the recipe's or the released
            config = replace(base, kd=kd, out=str(run_dir), seed=seed, bce_weight=None, response_weight=None,
                             feature_weight=RECIPES[base.recipe].get("feature_weight"), **weights)
            state = run_dir / STATE_FILE
            resume = args.resume and state.is_file()
            if resume:
                config = replace(read_run_config(run_dir), epochs=config.epochs)
            print(f"--- Table 3 row {number}: kd={kd}, seed {seed} -> {run_dir}", flush=True)
            trainer = Trainer(config, resume=resume)
            if trainer.start_epoch < config.epochs:
                trainer.fit()
            result = evaluate_checkpoint(run_dir / "best.pt", config.data, config.root, split,
                                         config.threshold, config.metric_definition, device=config.device,
                                         partition_index=config.partition)
            runs.append({"NO.": number, "SNN": "yes", "Feature KD": "yes" if feature else "",
                         "Response KD": "yes" if response else "", "seed": seed, **table1_row(result.metrics),
                         "run": str(run_dir)})
    columns = ("NO.", "SNN", "Feature KD", "Response KD", "mA", "F1", "Acc", "Prec", "Recall")
    table = format_table(summarise(runs, columns, len(seeds)), columns)
    write_csv(runs, out / "ablation.csv")
    seeds_text = f"seeds {', '.join(map(str, seeds))}: mean ± std" if len(seeds) > 1 else f"seed {seeds[0]}"
    write_text(f"Table 3 ({base.model}, {base.data}, {split} split, {seeds_text})\n\n{table}\n", out / "ablation.md")
    print(f"\nTable 3: knowledge distillation ablation ({base.model} on {base.data}, {split} split, {seeds_text})")
    print(table)
    return 0


def summarise(runs: list[dict], columns: tuple[str, ...], num_seeds: int) -> list[dict]:
    """One row per Table 3 row: the metric itself for one seed, "mean ± std" over several."""
    import numpy as np

    if num_seeds == 1:
        return runs
    rows = []
    for number in sorted({r["NO."] for r in runs}):
        group = [r for r in runs if r["NO."] == number]
        row = {k: group[0][k] for k in ("NO.", "SNN", "Feature KD", "Response KD")}
        for metric in columns[4:]:
            values = np.array([r[metric] for r in group], dtype=float)
            row[metric] = f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"
        rows.append(row)
    return rows
