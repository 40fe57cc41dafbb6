"""`lava_conv`, the arithmetic of the vectorised Conv models: a true convolution in
Lava's layout, and for integers exact whether it runs in float64 (fast, BLAS) or in int64 (past 2^53)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d

from hw_sim.simulator.processes.conv import EXACT_IN_FLOAT64, _conv, _largest_partial_sum, lava_conv


def per_channel_reference(x, weight, padding):
    """Lava's own CPU model does this: scipy's true 2-D convolution per (output, input) channel pair."""
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    out = np.zeros((x.shape[0], x.shape[1], weight.shape[0]), dtype=np.int64)
    for o in range(weight.shape[0]):
        for i in range(weight.shape[3]):
            out[:, :, o] += convolve2d(xp[:, :, i], weight[o, :, :, i], mode="valid")  # int64: exact here
    return out


@pytest.mark.parametrize("groups", [1, 2])
def test_integer_conv_is_exact_and_takes_float64_only_where_that_is_exact(groups):
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**20), 2**20, (6, 5, 4))
    weight = rng.integers(-(2**15), 2**15, (4, 3, 3, 4 // groups))
    assert _largest_partial_sum(x, weight) < EXACT_IN_FLOAT64
    out = lava_conv(x, weight, (1, 1), (1, 1), (1, 1), groups)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, _conv(x, weight, (1, 1), (1, 1), (1, 1), groups))  # the int64 path
    if groups == 1:
        np.testing.assert_array_equal(out, per_channel_reference(x, weight, 1))


def test_integer_conv_past_two_to_the_53_stays_in_int64():
    x = np.full((3, 3, 1), 2**40 + 1, dtype=np.int64)
    weight = np.full((1, 3, 3, 1), 2**12 + 1, dtype=np.int64)
    assert _largest_partial_sum(x, weight) >= EXACT_IN_FLOAT64
    exact = 9 * (2**40 + 1) * (2**12 + 1)
    assert int(float(exact)) != exact  # float64 would round it
    out = lava_conv(x, weight, (1, 1), (1, 1), (1, 1), 1)
    assert int(out[1, 1, 0]) == exact
