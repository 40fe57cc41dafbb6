"""Each benchmark script runs on its smallest setting and prints the table it promises.

Nothing here asserts on wall-clock time (shared machines); the checks are on what the tables say
about behaviour: the two neuron backends fire identical spikes, every energy profile has a row with
positive energies, the scaling plot is a real PNG.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(name: str, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=BENCHMARKS.parent)
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose first column header is `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} "))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%"))


@pytest.mark.skipif(importlib.util.find_spec("spikingjelly") is None,
                    reason="SpikingJelly is the optional `bench` extra (pip install spikingjelly)")
def test_neuron_throughput_quick_reports_identical_spikes_and_positive_throughput():
    out = run_script("neuron_throughput.py", "--quick")
    speed = table_rows(out, "setting")
    assert {row[1].split()[0] for row in speed} == {"forward", "train"}
    assert all(number(row[2]) > 0 and number(row[3]) > 0 for row in speed)
    (agreement,) = table_rows(out.split("Same weights")[1], "setting")
    assert agreement[1] == "norse vs spikingjelly"
    assert number(agreement[2]) == 100.0 and agreement[3] == "0" and agreement[4] == "-"
    assert number(agreement[5]) > 0.0  # the calibrated network fires, so the agreement is not vacuous


def test_energy_table_quick_has_every_profile_with_positive_energies():
    from hw_sim.analysis.energy_profiles import PROFILES

    out = run_script("energy_table.py", "--quick")
    rows = table_rows(out, "profile")
    assert {row[0] for row in rows} == set(PROFILES)
    for row in rows:
        assert number(row[2]) > 0
        if PROFILES[row[0]].chip:  # an ANN is not priced on a neuromorphic chip
            assert row[3:7] == ["n/a"] * 4
            continue
        snn, teacher, vit = (number(c) for c in row[2:5])
        assert teacher > 0 and vit > 0
        assert number(row[5]) == pytest.approx(teacher / snn, rel=0.02)
    counts = table_rows(out, "model")
    assert int(counts[0][1]) > 0 and number(counts[0][5]) > 0  # parameters, student firing rate
    assert "On the same 45 nm MAC array" in out and "cheaper" in out
    chip = {row[0]: row for row in table_rows(out, "term")}
    assert 0 < number(chip["total"][2]) <= number(chip["total"][1]) <= number(chip["total"][3])


def test_scaling_quick_writes_a_png_and_grows_with_image_size(tmp_path):
    plot = tmp_path / "scaling.png"
    out = run_script("scaling.py", "--quick", "--plot", str(plot))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = table_rows(out, "what")
    assert {row[0] for row in rows} == {"train"} and {row[1] for row in rows} == {"image size", "T", "depth"}
    assert all(number(row[5]) > 0 for row in rows)
    saved = {(row[2], row[3], row[4]): number(row[7]) for row in rows}
    # activations saved for backward grow with the image and with T (exact counts, not timings)
    assert saved[("64x32", "2", "1")] > saved[("32x16", "2", "1")]
    assert saved[("32x16", "4", "1")] > saved[("32x16", "2", "1")]


def test_lava_cost_quick_times_one_image_and_a_pipelined_stream():
    out = run_script("lava_cost.py", "--quick")
    alone, stream = table_rows(out, "setting")
    assert [row[1] for row in (alone, stream)] == ["float", "float"] and (alone[2], stream[2]) == ("1", "3")
    depth = int(alone[6]) - 2  # T = 2
    assert depth > 2 and int(stream[6]) == 3 * 2 + depth  # images overlap in the pipeline
    assert number(alone[3]) > 0 and number(stream[8]) > 0
    assert int(alone[12]) >= 2  # Lava processes
    assert alone[13] == stream[13] == "True"  # float Lava predicts the same attributes as Norse


def test_integer_evaluator_quick_equals_lava_fixed_and_reports_both_ratios():
    out = run_script("integer_evaluator.py", "--quick")
    (row,) = table_rows(out, "setting")
    assert row[1] == "worst-case"  # the tiny student deploys under the worst-case scale rule
    assert row[10] == "True"  # Lava fixed point's spikes equal the evaluator's on every layer
    assert all(number(row[i]) > 0 for i in (3, 5, 6, 8, 9))


def test_run_all_lists_the_five_benchmarks_and_they_exist():
    listed = run_script("run_all.py", "--list").split()
    assert set(listed) == {"neuron_throughput.py", "lava_cost.py", "integer_evaluator.py", "energy_table.py", "scaling.py"}
    assert all((BENCHMARKS / name).is_file() for name in listed)
