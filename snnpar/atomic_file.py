"""Atomic file output: write beside the target, rename over it only once the write has succeeded.

Why: a crash or Ctrl-C mid-write must never leave a half-written checkpoint, graph, table or figure
that a later stage would read as if it were whole. Every stage of the pipeline writes through this.
Files get the permissions any new file gets (0666 less the umask), so colleagues on a shared machine
can read results. A full disk or a missing permission is the user's to fix: it is reported as a
`UserError` naming the path they gave. `check_output_folder` / `check_output_file` let a command find
an unwritable destination before it spends minutes on the work.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snnpar.errors import UserError

# errors of the destination, not of the program: reported as UserError
WRITE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
                errno.EFBIG: "the file is larger than this system allows", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
                errno.ENOTDIR: "a part of the path is a file, not a folder",
                errno.EISDIR: "it is a folder, not a file"}


def write_error(path: str | Path, err: OSError) -> UserError | None:
    """The UserError for an OSError of writing `path` (None when it is not the destination's fault)."""
    reason = WRITE_ERRNOS.get(err.errno)
    if reason is None:
        return None
    return UserError(f"cannot write {path}: {reason} ({err.strerror}); free space, fix the permissions or "
                     "choose another output path")


def umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it, for a moment,
    in every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """0666 less the umask: the mode `open()` gives a new file (mkstemp gives 0600)."""
    return 0o666 & ~umask()


def new_folder_mode() -> int:
    """0777 less the umask: the mode `mkdir` gives a new folder (mkdtemp gives 0700)."""
    return 0o777 & ~umask()


@contextmanager
def atomic_output(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder; on success rename it to `path`, on any failure delete it.

    `suffix` lets writers that infer the format from the file name (matplotlib) see the right extension.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.fchmod(fd, new_file_mode())
        os.close(fd)
    except OSError as err:
        raise (write_error(path, err) or err) from err
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        user_error = write_error(path, err)
        if user_error is None:
            raise
        raise user_error from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_folder(path: str | Path, option: str) -> Path:
    """Raise a UserError now if files cannot be written into folder `path` (given as `option`).

    Creates nothing: the folder is made by the first write, so a command that fails on its input leaves
    no empty folder behind.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder; choose a folder for the outputs")
    _check_can_create_in(path if path.is_dir() else path.parent, path, option)
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """Raise a UserError now if file `path` (given as `option`) cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name, e.g. {path / 'out'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path} exists and is not writable; fix its permissions or choose another path")
    _check_can_create_in(path.parent, path, option)
    return path


def _check_can_create_in(folder: Path, given: Path, option: str) -> None:
    """`folder`, or its nearest existing ancestor, must be a folder this process can create files in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {given}: {existing} is a file, so no folder can be made there; choose another path")
    try:  # os.access says yes to root even on a read-only mount; a real file says what will happen
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".snnpar-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = WRITE_ERRNOS.get(err.errno, err.strerror)
        raise UserError(f"{option} {given}: cannot create files in {existing} ({reason}); choose another path") from err
