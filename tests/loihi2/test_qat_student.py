"""Loihi 2 QAT: the student's quantisation-aware forward is the network the chip runs. Exported to NIR with the
formats it trained with, it runs in Lava fixed point with the very same spikes on every layer, as the batched
integer evaluator does, both attention modes; and gradients reach every kind of parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spiking_fixtures import IMAGE_SIZE, firing_student
from spiking_fixtures import TIME_STEPS as T

from export import export_nir, read_graph
from hw_sim.chip.deployment import student_formats
from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
from hw_sim.chip.quantize import FORMATS_KEY
from hw_sim.simulator.lowering import lower
from hw_sim.simulator.simulation import run
from snnpar.data import NORMALIZATION
from snnpar.loihi2.qat import Loihi2Student


@pytest.fixture(scope="module", params=["ssa", "sdsa"])
def runs(request, tmp_path_factory):
    model = firing_student(request.param, num_attributes=5)
    formats = student_formats(model, NORMALIZATION)
    qat = Loihi2Student(model, formats)
    qat.record = {}
    images = torch.randn(3, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = qat(images).numpy()
    path = tmp_path_factory.mktemp(request.param) / "qat.nir"
    export_nir(model, path, normalization=NORMALIZATION, metadata={FORMATS_KEY: formats})
    graph = read_graph(path)
    lava = run(graph, images.numpy(), mode="fixed", progress=False)
    integer = evaluate(lower(graph), lava.quantization, images.numpy(), T)
    return dict(attention=request.param, qat={k: v.numpy().astype(np.uint8) for k, v in qat.record.items()},
                logits=logits, lava=lava, integer=integer)


def test_lava_runs_the_trained_formats(runs):
    assert runs["lava"].quantization.trained


def test_qat_forward_equals_lava_fixed_and_the_integer_evaluator_on_every_layer(runs):
    qat, lava, integer = runs["qat"], runs["lava"].spikes, spikes_numpy(runs["integer"])
    assert set(qat) == set(lava) == set(integer)
    assert len(qat) >= 15  # every LIF, every max-pool's Threshold (and SDSA's ANDs)
    for name, spikes in qat.items():
        assert 0.0 < spikes.mean() < 1.0, f"{name} ({runs['attention']}) fires at {spikes.mean():.3f}"
        np.testing.assert_array_equal(lava[name], spikes, err_msg=f"lava {name}")
        np.testing.assert_array_equal(integer[name], spikes, err_msg=f"integer evaluator {name}")
    np.testing.assert_array_equal(runs["lava"].predictions, runs["logits"] > 0)
    np.testing.assert_allclose(runs["integer"].logits.numpy(), runs["logits"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(runs["lava"].logits, runs["logits"], rtol=0, atol=1e-12)


def test_gradients_pass_through_the_integer_forward():
    model = firing_student("ssa", num_attributes=5).float()
    qat = Loihi2Student(model, student_formats(model, NORMALIZATION))
    images = torch.randn(2, 3, *IMAGE_SIZE, generator=torch.Generator().manual_seed(3))
    logits, tokens = qat(images, return_features=True)
    (logits.sum() + tokens.mean()).backward()
    for name in ("tokenizer.proj_conv.weight", "tokenizer.proj_bn.bias", "tokenizer.proj3_conv.weight",
                 "blocks.0.attn.q.0.weight", "blocks.0.attn.proj.1.weight", "blocks.0.mlp.mlp2.0.weight",
                 "head.weight", "head.bias"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
