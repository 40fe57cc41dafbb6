"""Bad input to export fails with the module path and type named, and leaves nothing on disk."""

from __future__ import annotations

import pytest
import torch
from spiking_fixtures import firing_student
from torch import nn

from export import UnsupportedModuleError, export_nir, fold_batchnorm, write_graph
from export.lowering import lower_spikingformer


def test_gelu_inside_a_convbn_is_named_and_nothing_is_written(tmp_path):
    model = firing_student("ssa")
    model.blocks[0].mlp.mlp1.append(nn.GELU())
    with pytest.raises(UnsupportedModuleError, match=r"blocks\.0\.mlp\.mlp1\.2.*GELU"):
        export_nir(model, tmp_path / "model.nir")
    assert list(tmp_path.iterdir()) == []


def test_neuron_replaced_by_gelu_is_named_and_nothing_is_written(tmp_path):
    model = firing_student("sdsa")
    model.blocks[0].mlp.mlp2_lif = nn.GELU()
    with pytest.raises(UnsupportedModuleError, match=r"blocks\.0\.mlp\.mlp2_lif.*GELU"):
        export_nir(model, tmp_path / "model.nir")
    assert list(tmp_path.iterdir()) == []


def test_extra_module_anywhere_is_named(tmp_path):
    model = firing_student("sdsa")
    model.tokenizer.dropout = nn.Dropout(0.1)
    with pytest.raises(UnsupportedModuleError, match=r"tokenizer\.dropout.*Dropout"):
        lower_spikingformer(model)


def test_metadata_that_hdf5_cannot_hold_fails_before_writing(tmp_path):
    graph = lower_spikingformer(firing_student("sdsa"))
    graph.metadata["note"] = object()
    with pytest.raises(ValueError, match="note|object"):
        write_graph(graph, tmp_path / "g.nir")
    assert list(tmp_path.iterdir()) == []


def test_fold_batchnorm_equals_conv_then_batchnorm_in_eval():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(4, 6, 3, padding=1, bias=True).double(), nn.BatchNorm2d(6).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    w, b = fold_batchnorm(conv.weight, conv.bias, bn)
    folded = torch.nn.functional.conv2d(x, torch.from_numpy(w), torch.from_numpy(b), padding=1)
    torch.testing.assert_close(folded, bn(conv(x)), rtol=1e-12, atol=1e-12)
