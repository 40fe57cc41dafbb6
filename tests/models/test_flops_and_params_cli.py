"""FLOP counting (2 x MACs convention), parameter counting, and the `snnpar params` command."""

import torch
from torch import nn

from snnpar.cli import main
from snnpar.models import create_model
from snnpar.models.flops import count_flops, count_parameters


def test_flops_are_twice_the_multiply_accumulates():
    model = nn.Sequential(nn.Conv2d(3, 8, kernel_size=4, stride=4), nn.Flatten(), nn.Linear(8 * 4 * 2, 5))
    conv_macs = (4 * 2) * 8 * (3 * 4 * 4)  # output positions x output channels x kernel volume
    linear_macs = 64 * 5
    assert count_flops(model, image_size=(16, 8)) == 2 * (conv_macs + linear_macs)
    assert count_flops(model, image_size=(16, 8), batch=3) == 3 * 2 * (conv_macs + linear_macs)


def test_vit_flops_match_formula():
    model = create_model("vit-tiny", num_attributes=26, patch_embed="linear")
    n, d, a = 32, 32, 26
    block = 2 * (n * d * 3 * d + 2 * n * n * d + n * d * d + 2 * n * d * 4 * d)  # qkv, QK^T and AV, proj, MLP
    assert count_flops(model) == 2 * n * d * 3 * 16 * 16 + block + 2 * d * a
    assert model.training  # the training mode is restored after counting


def test_student_flops_are_dense_over_all_time_steps():
    def flops(steps: int) -> int:
        with torch.device("meta"):
            return count_flops(create_model("snnpar-tiny", num_attributes=10, time_steps=steps))

    head = 2 * 32 * 10  # applied once, to the time-averaged tokens
    assert flops(4) - head == 2 * (flops(2) - head)


def test_count_parameters_counts_learnable_ones_only():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert count_parameters(model) == 4 * 3 + 3 + 2 * 3  # BN running statistics are buffers
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == 3 + 2 * 3


def test_snnpar_params_prints_a_table_of_the_named_presets(capsys):
    assert main(["params", "snnpar-tiny", "vit-tiny", "--attributes", "1000"]) == 0
    out = capsys.readouterr().out
    assert "with 1000 attributes" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("snnpar-", "vit-"))}
    assert set(rows) == {"snnpar-tiny", "vit-tiny"}
    for name in rows:
        params = count_parameters(create_model(name, num_attributes=1000))
        assert f"{params:,}" in rows[name].split()


def test_snnpar_params_rejects_an_unknown_preset(capsys):
    assert main(["params", "snnpar-huge"]) == 2
    assert "unknown preset(s) snnpar-huge" in capsys.readouterr().err
