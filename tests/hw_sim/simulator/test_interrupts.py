"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM at any moment of
`snnpar simulate` ends the command with status 130 and one line, leaving no process and no
/dev/shm/psm_* segment behind (hw_sim.simulator.runtime).

Each try runs `snnpar simulate` in its own session on a tiny graph (14 Lava processes, 64 images so the
run lasts a few seconds) and sends the signal at one moment, found by watching the session's processes,
not by a fixed delay: while Python imports, as the first workers fork, and with all workers running.
The segments checked are those the session's processes had mapped at any time while it was watched, so
Lava runs of other processes on the machine do not count.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spiking_fixtures import IMAGE_SIZE, firing_student

from export import export_nir

IMAGES = 64
WORKERS = 12  # "all running": the session holds at least this many processes (14 Lava processes + manager)


@pytest.fixture(scope="module")
def graph_and_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    export_nir(firing_student("sdsa", seed=2, num_attributes=5), folder / "model.nir", preset="snnpar-tiny",
               attribute_names=list("abcde"), normalization={"mean": [0.5] * 3, "std": [0.25] * 3})
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)).save(folder / "a.png")
    return folder / "model.nir", folder / "a.png"


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


def mapped_segments(pids: list[int]) -> set[str]:
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as maps:
                names.update(line.split("/dev/shm/")[1].split()[0] for line in maps if "/dev/shm/psm_" in line)
        except OSError:
            continue
    return names


def wait_for(condition, proc: subprocess.Popen, seen: set[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        seen |= mapped_segments(session_processes(proc.pid))
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the moment never came; exit {proc.poll()}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)


def has_loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


# moment -> (when it has come, given the command's pid and the session's process count; then wait this long)
MOMENTS = {
    # inside the command, importing numpy, torch, nir and Lava (snnpar.cli itself imports no numpy)
    "importing": (lambda pid, n: has_loaded(pid, "_multiarray_umath"), 0.0),
    "workers starting": (lambda pid, n: n >= 3, 0.0),  # the shared-memory manager and the first workers fork
    "all workers running": (lambda pid, n: n >= WORKERS, 0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize(("moment", "signum"), [("importing", signal.SIGINT), ("workers starting", signal.SIGINT),
                                                ("all workers running", signal.SIGINT),
                                                ("all workers running", signal.SIGTERM)],
                         ids=["sigint-importing", "sigint-workers-starting", "sigint-running", "sigterm-running"])
def test_a_signal_at_any_moment_ends_the_run_cleanly(graph_and_image, moment, signum):
    graph, image = graph_and_image
    argv = [sys.executable, "-m", "snnpar.cli", "simulate", str(graph), "--images", *[str(image)] * IMAGES]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen: set[str] = set()
    try:
        ready, settle = MOMENTS[moment]
        wait_for(lambda: ready(proc.pid, len(session_processes(proc.pid))), proc, seen)
        time.sleep(settle)
        seen |= mapped_segments(session_processes(proc.pid))
        os.killpg(proc.pid, signum)
        deadline = time.monotonic() + 60  # a hang fails the test here (not a timing assertion)
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= mapped_segments(session_processes(proc.pid))
            time.sleep(0.02)
        assert proc.poll() is not None, "the command hung after the signal"
        err = proc.stderr.read()
        lines = [line for line in err.splitlines() if line.strip() and not line.lstrip().startswith("lava ")]
        # 130, or ended by SIGINT itself (a shell shows 130 for both): when Ctrl-C lands in Python code that a
        # C extension runs while it is imported (torch's, numpy's), the interpreter notes an unhandled
        # KeyboardInterrupt that no Python code can clear, and re-raises SIGINT as it exits, after main's line
        assert proc.returncode == 130 or (moment == "importing" and proc.returncode == -signal.SIGINT), err[-2000:]
        assert "Traceback" not in err and lines[-1].startswith("interrupted: snnpar simulate"), err[-2000:]
        for _ in range(100):  # the resource tracker leaves a moment after its last client
            survivors = session_processes(proc.pid)
            if not survivors:
                break
            time.sleep(0.1)
        assert not survivors, f"processes left: {survivors}"
        left = sorted(s for s in seen if Path("/dev/shm", s).exists())
        assert not left, f"{len(left)} of {len(seen)} shared-memory segments left: {left[:5]}"
    finally:
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        for name in seen:
            Path("/dev/shm", name).unlink(missing_ok=True)
        proc.wait(timeout=30)
