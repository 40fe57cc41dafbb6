"""Post-training quantisation refuses, naming the node, what the chip cannot hold: a layer whose weights would
mostly round to zero (one shared exponent per layer), and a state that would saturate even at scale 1."""

import nir
import numpy as np
import pytest

from hw_sim.chip.quantize import quantize
from hw_sim.simulator.lowering import lower
from snnpar.errors import UserError


def one_layer(weight: np.ndarray) -> nir.NIRGraph:
    n_out, n_in = weight.shape
    full = lambda v: np.full(n_out, v, dtype=np.float64)  # noqa: E731
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n_in])),
                               "fc": nir.Linear(weight=weight),
                               "if": nir.IF(r=full(1.0), v_threshold=full(1.0), v_reset=full(0.0)),
                               "output": nir.Output(output_type=np.array([n_out]))},
                        edges=[("input", "fc"), ("fc", "if"), ("if", "output")], metadata={"dt": 1.0})


def test_weights_that_round_to_zero_are_refused_naming_the_synapse():
    weight = np.full((4, 16), 0.01)
    weight[0, 0] = 1000.0  # one weight sets the layer's exponent; 8-bit mantissas lose the rest
    with pytest.raises(UserError, match=r"synapse 'fc': 98% of its non-zero weights quantise to 0 on Loihi 2"):
        quantize(lower(one_layer(weight)), binary_input=True)


def test_a_state_that_would_saturate_at_scale_1_is_refused_naming_the_group():
    with pytest.raises(UserError, match=r"neuron group 'if': its worst-case input .* would saturate the chip's 24-bit"):
        quantize(lower(one_layer(np.full((4, 16), 1e5))), binary_input=True)


def test_a_reasonable_layer_quantises_without_complaint():
    quant = quantize(lower(one_layer(np.random.default_rng(0).normal(0, 0.3, (4, 16)))), binary_input=True)
    assert quant.report["fc"]["zeroed"] < 0.1 and quant.neurons["if"].vth == quant.neurons["if"].scale
