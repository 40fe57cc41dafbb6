"""The neurons' membrane and threshold comparison stay float32 under autocast: the same input currents give the
same spikes under bf16 autocast as in plain fp32 (a bf16 membrane would flip spikes: checked too)."""

from __future__ import annotations

import pytest
import torch

from snnpar.models.neurons import LIFConfig, make_lif, norse_time_loop


@pytest.mark.parametrize("backend", ["norse"])
def test_bf16_autocast_gives_the_fp32_spikes(backend):
    config = LIFConfig()
    # currents a bf16 conv would hand over: bf16 values, many of them near the threshold
    x = (torch.randn(8, 64, 256, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.9).to(torch.bfloat16)
    layer = make_lif(config, backend)
    expected = layer(x.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.float(), expected)
    assert 0.05 < expected.mean() < 0.95
    # without the float32 loop the bf16 membrane rounds and flips spikes: the guard is needed
    params = config.norse_parameters()
    in_bf16 = norse_time_loop(x, params, config.dt, config.firing_rule)
    assert not torch.equal(in_bf16.float(), expected)
