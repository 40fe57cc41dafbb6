"""The throughput benchmark times the compiled Norse backend beside the eager one and SpikingJelly, in one run.

Checks behaviour the table reports, never wall-clock figures: the compiled student fires exactly the eager
student's spikes (same logits), and every backend gets a throughput, a ratio against SpikingJelly and a
first-call time. Compiling takes ~10-25 s on CPU the first time (inductor caches it on disk afterwards).
"""

from __future__ import annotations

import importlib.util

import pytest
from test_benchmarks_smoke import number, run_script, table_rows

BACKENDS = ["norse", "norse-compiled", "spikingjelly"]


@pytest.mark.skipif(importlib.util.find_spec("spikingjelly") is None,
                    reason="SpikingJelly is the optional `bench` extra (pip install spikingjelly)")
def test_quick_run_with_the_compiled_backend_matches_eager_spikes_and_reports_every_ratio():
    out = run_script("neuron_throughput.py", "--quick", "--repeats", "1", "--backends", *BACKENDS, timeout=240)
    header = next(line for line in out.splitlines() if line.startswith("| setting ") and "img/s" in line)
    assert "norse-compiled / spikingjelly" in header and "norse / spikingjelly" in header
    speed = table_rows(out, "setting")
    assert [row[1].split()[0] for row in speed] == ["forward", "train"]
    for row in speed:  # three img/s columns, then two ratios against SpikingJelly
        ips = [number(c) for c in row[2:5]]
        assert all(v > 0 for v in ips)
        assert number(row[5]) == pytest.approx(ips[0] / ips[2], rel=0.02)
        assert number(row[6]) == pytest.approx(ips[1] / ips[2], rel=0.02)
    agreement = {row[1]: row for row in table_rows(out.split("Same weights")[1], "setting")}
    compiled = agreement["norse vs norse-compiled"]
    assert number(compiled[2]) == 100.0 and compiled[3] == "0" and number(compiled[6]) == 0.0
    assert number(compiled[5]) > 0.0  # the network fires, so identical spikes are not vacuous
    first = table_rows(out.split("First call")[1], "setting")
    assert len(first) == 2 and all(number(c) > 0 for row in first for c in row[2:5])
