"""The `snnpar` command line: one sub-command per pipeline stage.

This is the composition root: each sub-command lives in the module that owns its stage and is
loaded lazily by dotted name, so `snnpar data --help` does not import Lava and the library modules
of `snnpar` never import `export` or `hw_sim`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from snnpar.errors import INTERRUPTED, USAGE_ERROR, UserError

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("snnpar.data.cli", "generate the synthetic data set or inspect a PAR data set"),
    "params": ("snnpar.models.cli", "learnable parameters and forward FLOPs of a model preset"),
    "train": ("snnpar.train_cli", "train a teacher, a student (with knowledge distillation) or a baseline"),
    "eval": ("snnpar.evaluate_cli", "evaluate a checkpoint: mA, Acc, Prec, Recall, F1"),
    "predict": ("snnpar.predict_cli", "print (and draw) the attributes predicted for images"),
    "ablate": ("snnpar.ablate_cli", "the knowledge-distillation ablation (Table 3 of the paper)"),
    "import": ("snnpar.import_cli", "a VTB / SNN-PAR / Spikingformer checkpoint as an snnpar checkpoint"),
    "text-vectors": ("snnpar.text_vectors_cli", "embed the attribute phrases with a local sentence encoder (VTB's text side)"),
    "export-nir": ("export.cli", "write a trained student as a NIR graph"),
    "simulate": ("hw_sim.simulator.cli_simulate", "run a NIR graph in Lava (Loihi 2 simulation, float or fixed point)"),
    "map": ("hw_sim.chip.cli_map", "map a NIR graph onto a neuromorphic chip's cores: fits or not, and why"),
    "compare": ("hw_sim.analysis.cli_compare", "Norse vs Lava spikes, layer by layer"),
    "energy": ("hw_sim.analysis.cli_energy", "synaptic operations and energy under hardware profiles; SNN vs ANN"),
    "demo": ("snnpar.demo", "the whole pipeline on the embedded synthetic data set"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (to add its arguments), so start-up stays fast."""
    parser = argparse.ArgumentParser(
        prog="snnpar",
        description="Spiking pedestrian attribute recognition: train (Norse) -> export (NIR) -> simulate (Lava).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command. The error contract (snnpar.errors) lives here and only here: a `UserError`
    becomes one line on stderr and exit status 2; Ctrl-C or SIGTERM one line and status 130 (whatever
    was being written is left out whole, by snnpar.atomic_file); anything else is a bug and keeps its
    traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    signals: list[int] = []
    try:
        with _signals_as_interrupt(signals):
            args = build_parser(command if command in COMMANDS else None).parse_args(argv)
            if not getattr(args, "_module", None):
                build_parser().print_help()
                return USAGE_ERROR
            return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return USAGE_ERROR
    except Exception:
        if not signals:
            raise
        # Ctrl-C inside a C extension's import (numpy's, for one) comes back as that import's ImportError:
        # an exception after an interrupt is the interrupt's doing, not a bug
        return _interrupted(command)
    except KeyboardInterrupt:
        return _interrupted(command)


def _interrupted(command: str | None) -> int:
    print(f"interrupted: snnpar {command or ''} stopped before it finished; files it completed are whole, "
          "nothing half-written was kept", file=sys.stderr)
    return INTERRUPTED


def one_line(err: BaseException) -> str:
    """The message on one line (a library's text quoted in it may hold line breaks)."""
    return " ".join(str(err).split())


@contextmanager
def _signals_as_interrupt(arrived: list[int]) -> Iterator[None]:
    """Ctrl-C and SIGTERM (kill, a batch scheduler's time limit) end a command the same way: a
    KeyboardInterrupt, with the signal noted in `arrived`. The previous handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        arrived.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
