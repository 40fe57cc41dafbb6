"""The interop table: which tool loads, runs and gives the executor's spikes for which NIR graph, in both directions.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/interop_table.py [--tools norse snntorch sinabs rockpool] [--out table.md]
Graphs written with Norse, snnTorch, Sinabs and Rockpool (built by the script with those libraries), the NIR paper's
public files (tests/fixtures/nir_paper) and the tiny SDSA student (standard and portable) are each run by the
reference executor and by the other tool; every spiking layer's spikes are compared. The rows are computed, nothing
is copied from elsewhere (export/interop_cases.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.interop_cases import interop_table, markdown  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", nargs="+", default=["norse", "snntorch", "sinabs", "rockpool"])
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    table = markdown(interop_table(ROOT / "tests" / "fixtures" / "nir_paper", tuple(args.tools)))
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
