"""Our counters against Spikingformer's own 8-768 energy log (224 x 224, T = 4, 1000 classes): every count
that does not depend on the trained weights must equal the log's, layer by layer (fixture: the log's numbers,
tests/fixtures/spikingformer/)."""

import json
import re
from pathlib import Path

import pytest
import torch

import snnpar.models.presets  # noqa: F401  (registers the presets)
from hw_sim.analysis.spikformer_energy import SpikformerAccounting, count_spikformer_operations
from snnpar.models.registry import create_model

LOG = json.loads((Path(__file__).parents[2] / "fixtures" / "spikingformer" / "energy_8_768_log.json").read_text())["layers"]


def ours(log_name: str) -> str:
    """The log's module path -> ours (patch_embed -> tokenizer, block.j -> blocks.j, x_conv / x_bn -> x.0 / x.1)."""
    name = log_name.replace("patch_embed.", "tokenizer.").replace("block.", "blocks.")
    if name.startswith("blocks."):
        name = re.sub(r"\.(q|k|v|proj|mlp1|mlp2)_conv$", r".\1.0", name)
        name = re.sub(r"\.(q|k|v|proj|mlp1|mlp2)_bn$", r".\1.1", name)
    return name


@pytest.fixture(scope="module")
def counts():
    torch.manual_seed(0)
    model = create_model("snnpar-8-768", num_attributes=1000, image_size=(224, 224), time_steps=4).eval()
    image = torch.randn(1, 3, 224, 224)
    count = count_spikformer_operations(model, image, SpikformerAccounting(count_bias=True, count_batchnorm=True))
    return {x.name: x for x in count.layers}, count


def synapse_layers():
    return {k: v for k, v in LOG.items() if v["type"] in ("Conv2d", "Conv1d", "Linear")}


@pytest.mark.slow
def test_every_layers_dense_count_equals_the_log_with_bias_adds_on(counts):
    layers, _ = counts
    logged = synapse_layers()
    assert len(logged) == 54
    for name, entry in logged.items():
        assert layers[ours(name)].dense_ops == entry["ops"], name


@pytest.mark.slow
def test_bias_adds_are_exactly_what_separates_25_layers_from_the_plain_mac_count(counts):
    layers, _ = counts
    logged = synapse_layers()
    with_bias = [n for n in logged if layers[ours(n)].bias_adds > 0]
    assert len(with_bias) == 25 and all(logged[n]["bias"] for n in with_bias)
    for n in with_bias:  # the log exceeds the bias-free MAC count by one add per output element
        layer = layers[ours(n)]
        assert logged[n]["ops"] - (layer.dense_ops - layer.bias_adds) == layer.outputs


@pytest.mark.slow
def test_batchnorm_and_neuron_counts_equal_the_log(counts):
    layers, count = counts
    for name, entry in LOG.items():
        if entry["type"].startswith("BatchNorm"):
            # the log counts normalise and affine as two operations per element; one multiply-add here
            assert 2 * layers[ours(name)].macs == entry["ops"], name
    neuron_ops = sum(e["ops"] for e in LOG.values() if e["type"] == "MultiStepLIFNode")
    assert count.neuron_updates == neuron_ops  # every LIF, every element, every step
    encoder = 224 * 224 * 96 * (3 * 3 * 3) * 4  # output pixels x channels x taps x T
    assert layers["tokenizer.proj_conv"].macs == encoder
    assert layers["tokenizer.proj_conv"].macs + layers["head"].macs == 520993768  # the log's 0.520993768 G MACs
    assert round(count.parameters / 1e6, 2) == 66.34  # Spikingformer's published 8-768 size (1000 classes)
