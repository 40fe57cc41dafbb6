"""Images are pipelined through Lava (image b+1 enters while deeper layers still work on image b): an image in
a stream must give exactly what it gives alone, in float and in fixed point, and the stream must take B*T + depth
steps rather than B*(T + depth)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spiking_fixtures import IMAGE_SIZE, firing_student
from spiking_fixtures import TIME_STEPS as T

from export import export_nir, read_graph
from hw_sim.simulator.simulation import run


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "student.nir"
    export_nir(firing_student("ssa", seed=3, num_attributes=4), path)
    return read_graph(path)


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_an_image_in_a_stream_gives_what_it_gives_alone(graph, mode):
    images = torch.randn(3, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).numpy()
    stream = run(graph, images, mode=mode, progress=False)
    depth = max(stream.depth.values())
    assert depth > T, "the test needs a network deeper than one period, so that images overlap in Lava"
    assert stream.steps == 3 * T + depth
    same_format = {"quantization": stream.quantization} if mode == "fixed" else {}
    alone = run(graph, images[1:2], mode=mode, progress=False, **same_format)
    assert alone.steps == T + depth
    fired = 0
    for name, spikes in alone.spikes.items():
        np.testing.assert_array_equal(stream.spikes[name][:, 1:2], spikes, err_msg=f"{mode} {name}")
        fired += int(spikes.sum())
    assert fired > 0
    # fixed point is exact; in float a fan-in port adds its inputs in the order Lava lists the channels,
    # which is not fixed from one build to the next (last-bit differences)
    np.testing.assert_allclose(stream.logits[1:2], alone.logits, rtol=0, atol=0 if mode == "fixed" else 1e-12)
    # the neighbours differ from it, so equality above is not an accident of identical inputs
    assert any(not np.array_equal(stream.spikes[n][:, 0], stream.spikes[n][:, 1]) for n in stream.spikes)
