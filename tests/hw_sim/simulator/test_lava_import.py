"""Lava 0.10 fixes the multiprocessing start method on import; a process that fixed it first gets told why."""

import subprocess
import sys


def test_lava_import_after_the_start_method_was_fixed_explains_what_to_do():
    code = ("import multiprocessing as mp; mp.set_start_method('spawn'); "
            "from hw_sim.simulator.simulation import import_lava_runtime; import_lava_runtime()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "must set the multiprocessing start method to 'fork'" in proc.stderr
    assert "snnpar simulate" in proc.stderr
