"""The integer LIF step against Lava's PyLifModelBitAcc arithmetic written out in int64 (lava-nc 0.10.0,
lava/proc/lif/models.py: sign-magnitude >> 12 decays, a << 6, one 24-bit wrap of u, v clipped), for inputs that
wrap u and states that clip v, with the integer evaluator's float32 inputs and in float64, current or none."""

import numpy as np
import pytest
import torch

from snnpar.loihi2 import arithmetic as A
from snnpar.loihi2.formats import NO_CURRENT, NeuronFormat

LIMIT = 2**23


def lava_step(u, v, a, du, dv, vth, bias):
    decayed = np.int64(u) * (4096 - (du + 1))
    decayed = np.sign(decayed) * np.right_shift(np.abs(decayed), 12)
    u = decayed + np.left_shift(np.int64(a), 6)
    u = np.where(u > LIMIT, u - 2 * LIMIT, u)
    u = np.where(u <= -LIMIT, u + 2 * LIMIT, u)
    dec_v = np.int64(v) * (4096 - dv)
    v = np.sign(dec_v) * np.right_shift(np.abs(dec_v), 12) + u + bias
    v = np.clip(v, -LIMIT + 1, LIMIT - 1)
    fired = v > vth * 64
    return fired, u, np.where(fired, 0, v)


@pytest.mark.parametrize("du", [NO_CURRENT, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("voltage", [torch.float32, torch.float64])
def test_lif_step_is_lavas_bit_accurate_lif(du, dtype, voltage):
    rng = np.random.default_rng(du)
    n, dv, vth = 4096, 2048, 3000
    bias = rng.integers(-4096, 4096, n) * 4
    fmt = NeuronFormat(1, vth, dv, du, torch.as_tensor(bias / 4, dtype=torch.float64), 2)
    assert A.float32_voltage(fmt)  # v * 2048 >> 12: an exponent shift, so the integer model may hold v in float32
    u_ref = v_ref = np.zeros(n, dtype=np.int64)
    u, v = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=voltage)
    for step in range(6):
        a = rng.integers(-(2**18), 2**18, n) if step % 2 else rng.integers(-(2**15), 2**15, n)  # odd steps wrap u
        fired_ref, u_ref, v_ref = lava_step(u_ref, v_ref, a, du, dv, vth, bias)
        z, u, v = A.lif_step(u, v, torch.as_tensor(a, dtype=dtype), fmt)
        np.testing.assert_array_equal(z.numpy() > 0, fired_ref)
        np.testing.assert_array_equal(u.to(torch.float64).numpy(), u_ref)
        np.testing.assert_array_equal(v.to(torch.float64).numpy(), v_ref)
    assert (np.abs(v_ref) == LIMIT - 1).any()  # some states clipped


def test_float32_voltage_only_where_the_decay_is_a_shift_and_the_reset_to_zero():
    fmt = lambda dv: NeuronFormat(1, 100, dv, NO_CURRENT, torch.zeros(1, dtype=torch.float64), 0)  # noqa: E731
    assert [A.float32_voltage(fmt(dv)) for dv in (0, 2048, 3072, 4096, 1000, 1)] == [True] * 4 + [False] * 2
    assert not A.float32_voltage(fmt(2048), subtract=True)
