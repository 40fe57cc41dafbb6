"""Tiny Spikingformer exported to NIR, both attention modes: Lava float spikes equal Norse's on every layer and
step (after the depth shift); Lava fixed equals the integer evaluator bit for bit. One Lava run per mode and
attention, shared by the assertions (module-scoped fixture)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spiking_fixtures import IMAGE_SIZE, firing_student
from spiking_fixtures import TIME_STEPS as T

from export import export_nir, read_graph
from hw_sim.analysis.compare import integer_reference_run
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.simulator.lowering import lower
from hw_sim.simulator.simulation import run
from snnpar.models.recording import record_spikes


@pytest.fixture(scope="module", params=["ssa", "sdsa"])
def runs(request, tmp_path_factory):
    attention = request.param
    model = firing_student(attention, num_attributes=5)
    images = torch.randn(2, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), record_spikes(model) as norse:
        logits = model(images).numpy()
    path = tmp_path_factory.mktemp(attention) / "student.nir"
    export_nir(model, path)
    graph = read_graph(path)
    x = images.numpy()
    fl = run(graph, x, mode="float", progress=False)
    fx = run(graph, x, mode="fixed", progress=False)
    integer = evaluate(lower(graph), fx.quantization, x, T)
    ref = spikes_numpy(integer)
    return dict(attention=attention, norse={k: v.numpy() for k, v in norse.items()}, logits=logits,
                float=fl, fixed=fx, reference=ref, integer_logits=integer.logits.numpy(), graph=graph, images=x)


def test_every_layer_fires_so_the_comparison_means_something(runs):
    assert len(runs["norse"]) == 11
    for name, s in runs["norse"].items():
        assert 0.02 < s.mean() < 0.98, f"{name} fires at {s.mean():.3f}"
    for name, s in runs["fixed"].spikes.items():  # also the Threshold groups (max-pool, SDSA's ANDs)
        assert 0.0 < s.mean() < 1.0, f"fixed {name} fires at {s.mean():.3f}"


def test_lava_float_spikes_equal_norse_on_every_layer_and_step(runs):
    fl = runs["float"]
    for name, expected in runs["norse"].items():
        got = fl.spikes[name]
        assert got.shape == expected.shape == (T, 2, *expected.shape[2:])
        bad = [t for t in range(T) if not np.array_equal(got[t], expected[t])]
        assert not bad, f"{name} ({runs['attention']}) differs from Norse at steps {bad}"
    np.testing.assert_allclose(fl.logits, runs["logits"], rtol=0, atol=1e-9)
    if runs["attention"] == "sdsa":  # the per-channel token sum and broadcast lie on the path
        assert fl.depth["blocks.0.attn.v_and_attn"] == fl.depth["blocks.0.attn.q_and_k"] + 2


def test_lava_fixed_spikes_equal_the_integer_evaluator_bit_for_bit(runs):
    fx, ref = runs["fixed"], runs["reference"]
    assert set(ref) == set(fx.spikes)
    for name, expected in ref.items():
        np.testing.assert_array_equal(fx.spikes[name], expected, err_msg=name)
    np.testing.assert_allclose(runs["integer_logits"], fx.logits, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(runs["integer_logits"] > 0, fx.predictions)
    # what `snnpar compare` reports as "lava fixed vs integer evaluator": the same spikes, the same logits
    spikes, logits = integer_reference_run(runs["graph"], runs["images"], fx)
    for name, expected in ref.items():
        np.testing.assert_array_equal(spikes[name], expected, err_msg=name)
    np.testing.assert_array_equal(logits, runs["integer_logits"])


def test_fixed_point_agreement_with_float_is_reported(runs):
    fl, fx = runs["float"], runs["fixed"]
    agreement = {n: float((fx.spikes[n] == fl.spikes[n]).mean()) for n in fl.spikes}
    attributes = float((fx.predictions == fl.predictions).mean())
    print(f"\n{runs['attention']}: fixed vs float spike agreement per layer "
          + ", ".join(f"{n.split('.')[-1]} {a:.3f}" for n, a in agreement.items())
          + f"; attribute agreement {attributes:.3f}")
    assert np.mean(list(agreement.values())) > 0.7
    assert agreement["tokenizer.proj1_lif"] > 0.9  # the first layer sees only the input and weight rounding
