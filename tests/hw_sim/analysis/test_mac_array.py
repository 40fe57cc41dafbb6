"""The fair 45 nm MAC-array footing: work and traffic counted independently of PyTorch's FLOP counter yet equal
to it, priced with Horowitz's figures by hand, and the text encoder priced once."""

import pytest
import torch
from spiking_fixtures import active_tiny_student
from torch import nn

import snnpar.models.presets  # noqa: F401  (registers the presets)
from hw_sim.analysis.mac_array import ARITHMETIC, SpikingWork, ann_on_array, count_network, snn_on_array
from hw_sim.analysis.spikformer_energy import count_spikformer_operations
from snnpar.models.flops import count_flops
from snnpar.models.registry import create_model


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)).repeat(1, 4))


def test_a_linear_layer_by_hand():
    cost = count_network(Tiny(), (2, 2))
    assert (cost.macs, cost.weight_reads, cost.activations) == (60, 65, 17)  # 5 x 12; 60 + 5 bias; 12 in + 5 out
    e = ann_on_array(cost, ARITHMETIC["int8"], "typical")  # 0.23 pJ per MAC; 20 pJ per 64-bit read of 32 KB
    assert e.compute == pytest.approx(60 * 0.23e-12) and e.memory == pytest.approx((65 + 17) * 20e-12 / 8)
    fp32 = ann_on_array(cost, ARITHMETIC["fp32"], "high")  # 4.6 pJ per MAC; 4 bytes per value, 100 pJ per 64 bits (1 MB)
    assert fp32.compute == pytest.approx(60 * 4.6e-12) and fp32.memory == pytest.approx((65 + 17) * 4 * 100e-12 / 8)


@pytest.mark.parametrize("name", ["vit-tiny", "vtb-tiny"])
def test_macs_per_image_and_once_equal_torch_flop_counter(name):
    with torch.device("meta"):
        model = create_model(name, num_attributes=26, image_size=(128, 64))
    cost = count_network(model, (128, 64), name)
    one, two = count_flops(model, (128, 64), 1), count_flops(model, (128, 64), 2)
    assert cost.macs == (two - one) / 2 and cost.once_macs == (2 * one - two) / 2
    assert (cost.once_macs > 0) == (name == "vtb-tiny")  # the teacher's text encoder runs once, not per image


def test_the_students_architecture_as_an_ann_costs_its_dense_count_per_step():
    from hw_sim.analysis.cli_energy import student_as_ann

    model = active_tiny_student()
    count = count_spikformer_operations(model, torch.randn(1, 3, 128, 64))
    ann = count_network(student_as_ann(model), (128, 64))
    dense = sum(x.dense_ops for x in count.layers if x.kind in ("conv", "linear"))
    attention = next(x.dense_ops for x in count.layers if x.kind == "attention")  # 2 T H N d^2, K^T V first
    t = model.config.time_steps
    head = 26 * 32  # the head runs once on the T-mean in both
    assert ann.macs == (dense - head) / t + head + attention / t


def test_the_snn_on_the_array_pays_accumulates_updates_and_per_step_traffic():
    work = SpikingWork(accumulates=1000, macs=10, neuron_updates=100, weight_reads=50, spike_reads=800, value_reads=4,
                       outputs=200, time_steps=4)
    e = snn_on_array(work, ARITHMETIC["int8"], "low")  # 8 KB SRAM: 10 pJ per 64 bits
    assert e.compute == pytest.approx((1000 * 0.03 + 110 * 0.23) * 1e-12)
    assert e.memory == pytest.approx((50 + 800 / 8 + 4 + 200 + 2 * 100) * 10e-12 / 8)
