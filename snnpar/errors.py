"""The one error contract of every `snnpar` command.

Deep code raises `UserError` for a problem with what the user gave (a path, a damaged or foreign file, an
option, a graph that does not fit): its message is one line that names the file or option, what is wrong
and the fix. `snnpar.cli.main` prints it as ``error: ...`` and exits with status 2; any other exception is a
bug and keeps its traceback. Commands never catch-and-print on their own.
"""

from __future__ import annotations

USAGE_ERROR = 2  # exit status of a user error (argparse's own)
INTERRUPTED = 130  # exit status after Ctrl-C or SIGTERM (128 + SIGINT)


class UserError(ValueError):
    """A user-facing error: one line naming the problem and the fix.

    A ValueError, so library callers that already catch ValueError for bad input keep working.
    """
