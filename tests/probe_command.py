"""A stand-in sub-command for the tests of `snnpar.cli.main`: it fails the way it is told to."""

from __future__ import annotations

import os
import signal

from snnpar.errors import UserError


def add_arguments(parser):
    parser.add_argument("what", choices=["user-error", "bug", "interrupt", "sigterm"])


def run(args):
    if args.what == "user-error":
        raise UserError("model.nir is damaged:\n  second line of a library's message; fix: export it again")
    if args.what == "bug":
        raise KeyError("a bug")
    if args.what == "interrupt":
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGTERM)
    signal.sigtimedwait([], 0)  # let the handler run
    return 0
