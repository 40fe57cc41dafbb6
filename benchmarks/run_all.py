"""Run every benchmark (`make bench`), each in its own process, and print each table under the command that made it.

Each script measures the things it compares side by side in the same run, so the ratios are the
figures to read; absolute times drift on a shared machine. A failing script is reported and the
others still run; the exit status is non-zero if any failed.

    .venv/bin/python benchmarks/run_all.py                 # the default settings (~15 min on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick         # every script on its smallest setting
    .venv/bin/python benchmarks/run_all.py --full          # also the 8-768 Lava simulation (slow)
    .venv/bin/python benchmarks/run_all.py --save reports/bench.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, extra arguments for the default run); order: cheapest first
SCRIPTS: list[tuple[str, list[str]]] = [
    ("energy_table.py", []),
    ("neuron_throughput.py", []),
    ("lava_cost.py", []),
    ("integer_evaluator.py", []),
    ("scaling.py", []),
]


def command_for(script: str, extra: list[str], quick: bool, full: bool) -> list[str]:
    args = list(extra)
    if quick:
        args.append("--quick")
    elif full and script in ("lava_cost.py", "integer_evaluator.py"):
        args.append("--full")
    return [sys.executable, str(HERE / script), *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="each script on its smallest setting")
    parser.add_argument("--full", action="store_true", help="pass --full where a script has it (8-768 in Lava)")
    parser.add_argument("--list", action="store_true", help="print the scripts run, then exit")
    parser.add_argument("--save", type=Path, default=None, help="also write all output to this Markdown file")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(script for script, _ in SCRIPTS))
        return 0
    report, failed = [], []
    for script, extra in SCRIPTS:
        cmd = command_for(script, extra, args.quick, args.full)
        shown = " ".join([".venv/bin/python", f"benchmarks/{script}", *cmd[2:]])
        print(f"\n## $ {shown}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
        took = time.perf_counter() - start
        print(proc.stdout, end="")
        if proc.returncode != 0:
            failed.append(script)
            print(f"FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        print(f"({script}: {took:.0f} s)", flush=True)
        report.append(f"## $ {shown}\n{proc.stdout}\n({took:.0f} s{', FAILED' if proc.returncode else ''})\n")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.save.parent, prefix=f".{args.save.name}.")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(report))
        os.replace(tmp, args.save)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
