"""Timing, memory and table helpers shared by the benchmark scripts.

The machines these run on are shared, so absolute times drift by tens of percent between minutes. Every
benchmark therefore measures the candidates it compares interleaved (A B B A A B ..., so neither side
always runs first) and keeps the best of n runs per candidate; the ratio of the best times is the figure
to read. This module does not decide what is measured; the scripts do.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Timing:
    """All wall times (seconds) of one candidate; `best` is the figure the tables use."""

    times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        s = sorted(self.times)
        return s[len(s) // 2]


def time_interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int = 3, warmup: int = 1
) -> dict[str, Timing]:
    """Run each candidate `warmup` times, then `repeats` times in alternating order; return all timings."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    timings = {name: Timing() for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            candidates[name]()
            timings[name].times.append(time.perf_counter() - start)
    return timings


def _tree_rss_bytes(proc) -> tuple[int, int]:
    """(PSS, else RSS, of proc and all its descendants; number of descendants).

    Lava forks its processes, which share the parent's pages copy-on-write: summing RSS would count
    those pages once per child (tens of GiB for a tiny network). PSS divides each shared page among the
    processes that map it, so the sum is the real footprint.
    """
    try:
        children = proc.children(recursive=True)
    except Exception:  # a child may exit while being listed
        children = []
    total = 0
    for p in [proc, *children]:
        try:
            total += _pss_or_rss(p)
        except Exception:  # a child may exit between listing and reading
            pass
    return total, len(children)


def _pss_or_rss(p) -> int:
    try:
        return p.memory_full_info().pss
    except Exception:  # no PSS on this platform, or no permission
        return p.memory_info().rss


@dataclass
class PeakMemory:
    """Peak resident memory (MiB) of this process plus its children while a block ran."""

    peak_mib: float = float("nan")
    method: str = ""
    max_children: int = 0  # most child processes alive at one sample (Lava: one OS process per Lava process)
    stopped_low_memory_mib: float | None = None  # the machine's available memory when the guard stopped the block


@contextmanager
def track_peak_memory(interval_s: float = 0.1, min_available_mib: float | None = None) -> Iterator[PeakMemory]:
    """Sample PSS of self + children (Lava runs each process as an OS process) every `interval_s`.

    Uses psutil when installed; otherwise falls back to getrusage's lifetime maxima of self and
    terminated children, which can only over-estimate (say so in the table via `method`).
    With `min_available_mib`, the block is interrupted (SIGINT to this process, i.e. KeyboardInterrupt
    in the main thread) once the machine's available memory falls below it, before the OOM killer picks
    a victim on a shared machine; `stopped_low_memory_mib` then says so.
    """
    result = PeakMemory()
    try:
        import psutil
    except ImportError:
        yield result
        self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result.peak_mib, result.method = (self_kib + child_kib) / 1024, "getrusage max (upper bound)"
        return
    proc = psutil.Process(os.getpid())
    peak = list(_tree_rss_bytes(proc))
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss, children = _tree_rss_bytes(proc)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], children)
            if min_available_mib is not None and result.stopped_low_memory_mib is None:
                available = psutil.virtual_memory().available / 2**20
                if available < min_available_mib:
                    result.stopped_low_memory_mib = available
                    os.kill(os.getpid(), signal.SIGINT)
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _tree_rss_bytes(proc)[0])
        result.peak_mib, result.method, result.max_children = peak[0] / 2**20, "psutil PSS self+children", peak[1]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """A Markdown table (readable in a terminal and pasteable into a report)."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "n/a"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    out = [f"\n{title}" if title else "", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in text]
    return "\n".join(out)
