"""The "norse-compiled" backend runs Norse's own LIF step under torch.compile and matches the eager loop exactly.

The contract: the same spikes, and the same gradients through Norse's SuperSpike bit for bit (through the
reference's Sigmoid surrogate to float32 rounding: inductor evaluates the sigmoid its own way), for a
single layer and for the whole tiny student. Everything here uses T = 4 and float32 on CPU, so the
module compiles one graph per grad mode (the layer shape is dynamic) and the tests share it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

from snnpar.models import create_model, spiking_layers
from snnpar.models.neurons import (
    NEURON_BACKENDS,
    NEURON_MODELS,
    CompiledMultiStepLIF,
    LIFConfig,
    MultiStepLIF,
    make_lif,
)

T = 4


def currents(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random input currents [T, ...]; neuron 0 gets v = 0.5 at t = 0 and v = 1.0 at t = 1 (ties with v_th)."""
    x = torch.randn(T, *shape, generator=torch.Generator().manual_seed(seed)) * 3
    x.view(T, -1)[:, 0] = torch.tensor([1.0, 1.5, -1.0, 0.0])  # v = 0.5 * (v + x): 0.5, 1.0, ...
    return x


def spikes_and_input_grad(neuron: torch.nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    x = x.clone().requires_grad_(True)
    spikes = neuron(x)
    spikes.backward(upstream)
    return spikes.detach(), x.grad


def test_compiled_backend_is_a_registered_multistep_lif_found_in_the_student():
    assert NEURON_BACKENDS["norse-compiled"] is CompiledMultiStepLIF
    assert issubclass(CompiledMultiStepLIF, MultiStepLIF)  # exporters and recorders find it as a MultiStepLIF
    assert type(make_lif(LIFConfig(v_th=0.5), "norse-compiled")) is CompiledMultiStepLIF
    model = create_model("snnpar-tiny", image_size=(64, 32), neuron_backend="norse-compiled")
    eager = create_model("snnpar-tiny", image_size=(64, 32))
    layers = spiking_layers(model)
    assert list(layers) == list(spiking_layers(eager))
    assert all(type(m) is CompiledMultiStepLIF for m in layers.values())
    assert model.blocks[0].attn.attn_lif.config == eager.blocks[0].attn.attn_lif.config


@pytest.mark.parametrize("config", [LIFConfig(), LIFConfig(v_th=0.5), NEURON_MODELS["norse"]],
                         ids=["reference v_th=1", "reference v_th=0.5", "norse v_th=1"])
def test_compiled_layer_fires_and_differentiates_exactly_like_the_eager_layer(config):
    eager, compiled = MultiStepLIF(config), CompiledMultiStepLIF(config)
    tie_step = {1.0: 1, 0.5: 0}[config.v_th]  # when neuron 0's v equals v_th: ">=" fires there, ">" does not
    for shape in [(2, 3, 5), (11,)]:  # two ranks and sizes: the flattened size is dynamic, no recompile needed
        x = currents(*shape)
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        expected_spikes, expected_grad = spikes_and_input_grad(eager, x, upstream)
        spikes, grad = spikes_and_input_grad(compiled, x, upstream)
        assert 0 < expected_spikes.sum() < expected_spikes.numel()
        assert expected_spikes.view(T, -1)[tie_step, 0] == (config.firing_rule == ">=")
        assert spikes.shape == x.shape and spikes.is_contiguous()
        assert torch.equal(spikes, expected_spikes)
        assert torch.count_nonzero(expected_grad) > 0
        if config.surrogate == "sigmoid":  # inductor's sigmoid rounds unlike eager's: the last bit may differ
            torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(grad, expected_grad)
        with torch.no_grad():  # inference compiles its own graph (no autograd); same spikes again
            assert torch.equal(compiled(x), expected_spikes)
    assert not counters["graph_break"], f"Norse's step broke the compiled graph: {dict(counters['graph_break'])}"
    assert counters["stats"]["unique_graphs"] >= 1  # it really ran compiled, not eager


def test_compiled_student_gives_the_same_logits_and_parameter_gradients():
    models = {}
    for backend in ("norse", "norse-compiled"):
        torch.manual_seed(0)
        models[backend] = create_model(
            "snnpar-tiny", num_attributes=6, image_size=(64, 32), time_steps=T, neuron_backend=backend
        ).train()
    x = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(2)) * 2
    labels = (torch.arange(12).reshape(2, 6) % 3 == 0).float()
    logits = {}
    for backend, model in models.items():
        logits[backend] = model(x)
        F.binary_cross_entropy_with_logits(logits[backend], labels).backward()
    assert torch.equal(logits["norse"], logits["norse-compiled"])
    eager, compiled = (dict(m.named_parameters()) for m in models.values())
    assert sum(int(torch.count_nonzero(p.grad)) for p in eager.values()) > 0
    differing = [n for n, p in eager.items() if not torch.equal(p.grad, compiled[n].grad)]
    assert not differing, f"gradients differ in: {differing}"
