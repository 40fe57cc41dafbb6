"""Atomic file output: write beside the target, rename over it only once the write has succeeded.

Why: a crash or Ctrl-C mid-write must never leave a half-written checkpoint, graph, table or figure
that a later stage would read as if it were whole. Every stage of the pipeline writes through this.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder; on success rename it to `path`, on any failure delete it.

    `suffix` lets writers that infer the format from the file name (matplotlib) see the right extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
