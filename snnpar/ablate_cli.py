"""`snnpar ablate`: the knowledge-distillation ablation of the paper's Table 3 on one data set.

Trains the same student four times from the same seed (no KD, feature KD, response KD, both), scores
each run's best checkpoint on the test split and prints the table (mA and F1 as in the paper, plus
Acc, Prec and Recall). Runs go to OUT/{none,feature,response,both}; finished rows are reused, so a
killed ablation continues with `--resume` (which also resumes a run killed half-way).
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
    parser.add_argument("--split", default="test", help="split the rows are scored on (default test)")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs in DIR and resume a killed one")
    add_training_arguments(parser, with_model=False)
    parser.set_defaults(kd=None)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnpar.atomic_file import check_output_folder
    from snnpar.evaluate import evaluate_checkpoint, format_table, table1_row, write_csv, write_text
    from snnpar.train import STATE_FILE, Trainer, read_run_config
    from snnpar.train_cli import build_config

    out = Path(args.out)
    if not args.teacher:
        raise UserError("the ablation needs --teacher CKPT (rows 2-4 distil from it)")
    check_output_folder(out, "--out")
    rows = []
    args.out = str(out / "none")  # placeholder; each row gets its own folder below
    base = build_config(args)
    for number, (kd, feature, response) in enumerate(ROWS, start=1):
        run_dir = out / kd
        config = replace(base, kd=kd, out=str(run_dir), bce_weight=args.bce_weight,
                         response_weight=args.response_weight, feature_weight=args.feature_weight)
        state = run_dir / STATE_FILE
        resume = args.resume and state.is_file()
        if resume:
            config = replace(read_run_config(run_dir), epochs=config.epochs)
        print(f"--- Table 3 row {number}: kd={kd} -> {run_dir}", flush=True)
        trainer = Trainer(config, resume=resume)
        if trainer.start_epoch < config.epochs:
            trainer.fit()
        result = evaluate_checkpoint(run_dir / "best.pt", config.data, config.root, args.split,
                                     config.threshold, config.metric_definition, device=config.device)
        rows.append({"NO.": number, "SNN": "yes", "Feature KD": "yes" if feature else "",
                     "Response KD": "yes" if response else "", **table1_row(result.metrics),
                     "run": str(run_dir)})
    columns = ("NO.", "SNN", "Feature KD", "Response KD", "mA", "F1", "Acc", "Prec", "Recall")
    table = format_table(rows, columns)
    write_csv(rows, out / "ablation.csv")
    write_text(f"Table 3 ({base.model}, {base.data}, {args.split} split)\n\n{table}\n", out / "ablation.md")
    print(f"\nTable 3: knowledge distillation ablation ({base.model} on {base.data}, {args.split} split)")
    print(table)
    return 0
