"""The NIR paper's single-LIF graph reproduces the traces the paper recorded from Lava (float and fixed)."""

from pathlib import Path

import nir
import numpy as np
import pytest

from hw_sim.chip.quantize import QuantizationConfig
from hw_sim.simulator.simulation import run

PAPER = Path(__file__).resolve().parents[2] / "fixtures" / "nir_paper"


@pytest.mark.parametrize("mode, csv", [("float", "lif_lava_cpu_float.csv"), ("fixed", "lif_lava_cpu_fixed.csv")])
def test_lif_graph_reproduces_recorded_lava_trace(mode, csv):
    ref = np.loadtxt(f"{PAPER}/{csv}", delimiter=",")
    graph = nir.read(f"{PAPER}/lif_norse.nir")
    stimulus = ref[:, 0].reshape(1, -1, 1)
    result = run(graph, stimulus, mode=mode, T=len(ref), dt=1e-4, probe_voltage=("1",), progress=False,
                 quantization=QuantizationConfig(style="nir-paper"))
    v = result.voltages["1"][0, : len(ref), 0]
    if mode == "float":
        np.testing.assert_allclose(v, ref[:, 1], atol=1e-6)  # the paper stored float32 weights
    else:
        np.testing.assert_array_equal(v, ref[:, 1])
    # Lava's Dense adds one step: the recorded spikes are one step later than NIR step t
    np.testing.assert_array_equal(result.spikes["1"][:-1, 0, 0], ref[1:, 2])
    assert result.depth["1"] == 1 and ref[:, 2].sum() > 0
