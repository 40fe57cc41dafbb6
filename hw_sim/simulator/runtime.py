"""The life of one Lava runtime: started with workers that leave Ctrl-C to the parent, always stopped in time.

Why: Lava 0.10 forks one OS process per Lava process, plus a shared-memory manager that owns the
`/dev/shm/psm_*` segments of every channel. Ctrl-C at a terminal sends SIGINT to the whole process
group; workers that take it die mid-step, and `Runtime.stop()` then waits forever for answers that never
come: the command hangs, and workers, zombies and segments stay behind. So here:

- workers forked while a runtime starts ignore SIGINT and SIGTERM (`os.register_at_fork`), so a signal
  to the whole group reaches the parent alone, which decides how the run ends;
- stopping has a deadline: Lava's own `Runtime.stop()` in a helper thread; whatever is still alive after
  it is killed (SIGKILL) and reaped; then the shared-memory manager is shut down, which unlinks every
  segment (what it could not unlink is unlinked here). Ctrl-C during that clean-up, which has its own
  deadline, takes effect after it.

Nothing here knows about graphs or images (`hw_sim.simulator.simulation` runs them).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_TIMEOUT_S = 20.0  # a finished run: Lava's stop of tens of processes on a busy machine
INTERRUPTED_STOP_TIMEOUT_S = 2.0  # after Ctrl-C or an error the workers may never answer
KILL_TIMEOUT_S = 2.0  # for the kernel to end a SIGKILLed worker

_starting_workers = False  # read in each forked child (its memory is a copy of the parent's)


def _child_leaves_signals_to_parent() -> None:
    if _starting_workers:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)


os.register_at_fork(after_in_child=_child_leaves_signals_to_parent)


@contextmanager
def lava_runtime(process: Any, run_cfg: Any, compile_config: dict[str, Any]) -> Iterator[Any]:
    """Compile `process` (and all connected processes), start Lava's runtime, yield it, and stop it on the
    way out, whatever happens.

    Compiling forks nothing and can be interrupted at once. Starting the runtime forks the workers and
    tracks each one only after its fork has returned, so Ctrl-C is held back until they have all
    started (a KeyboardInterrupt raised there would also be swallowed by the interpreter's at-fork
    hooks): then it takes effect, and the runtime is torn down.
    """
    global _starting_workers
    executable = process.compile(run_cfg, compile_config)
    try:
        with _signals_deferred():
            _starting_workers = True
            try:
                process.create_runtime(executable=executable)
            finally:
                _starting_workers = False
        yield process.runtime
    except BaseException:
        stop_runtime(process.runtime, INTERRUPTED_STOP_TIMEOUT_S)
        raise
    stop_runtime(process.runtime, STOP_TIMEOUT_S)


def stop_runtime(runtime: Any, timeout: float) -> None:
    """Stop `runtime` (a Lava Runtime, possibly half-initialised, or None) within about `timeout` seconds
    plus the kill deadline; afterwards no worker of it is alive and its segments are unlinked."""
    if runtime is None:
        return
    with _signals_deferred():
        if getattr(runtime, "_is_started", False):  # a runtime that never ran cannot be stopped by Lava
            stopper = threading.Thread(target=_quiet(runtime.stop), name="lava-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
        _terminate_workers(runtime)  # what the graceful stop left (nothing, when it worked)
        # Lava's Runtime.__del__ calls stop() again when still marked started: that would wait forever
        runtime._is_started = runtime._is_running = False


def _terminate_workers(runtime: Any) -> None:
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    # workers this process started and has not joined yet (Lava closes the ones it joined)
    actors = [a for a in (getattr(infrastructure, "actors", None) or [])
              if a._parent_pid == os.getpid() and not a._closed]
    for actor in actors:
        if actor.is_alive():
            actor.kill()  # workers ignore SIGTERM (see above); they hold nothing that needs a clean exit
    for actor in actors:
        multiprocessing.Process.join(actor, KILL_TIMEOUT_S)
    shared_memory = getattr(infrastructure, "smm", None)
    if shared_memory is not None:
        segments = list(getattr(shared_memory, "_shared_memory_handles", []))
        manager = getattr(getattr(shared_memory, "_manager", None), "_process", None)
        _quiet(shared_memory.shutdown)()  # the manager process unlinks every segment it tracks, then exits
        if manager is not None and manager._parent_pid == os.getpid() and not manager._closed and manager.is_alive():
            manager.kill()
            manager.join(KILL_TIMEOUT_S)
        for segment in segments:  # what a manager that did not answer left
            try:
                segment.unlink()
            except FileNotFoundError:
                pass
    watchdog = getattr(runtime, "_watchdog_manager", None)
    if watchdog is not None:
        _quiet(watchdog.stop)()


def _quiet(fn):
    """`fn` for a clean-up path: a second failure must not hide the first one (or the interrupt)."""

    def call() -> None:
        try:
            fn()
        except Exception:
            pass

    return call


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the duration, then act on them: one that came in the meantime
    raises KeyboardInterrupt at the end. Main thread only (elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if arrived:
        raise KeyboardInterrupt
