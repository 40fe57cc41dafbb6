"""The smallest recurrent NIR graph, shared by the executor's and hw_sim's tests of a recurrent edge."""

from __future__ import annotations

import nir
import numpy as np


def self_inhibiting_if(metadata: dict | None = None) -> nir.NIRGraph:
    """input -> a (w 1) -> n (IF, threshold 0.5) -> rec (w -1) -> n: a neuron that silences itself for one step.

    By hand, for a constant input 1: t0 v = 1 > 0.5 spikes; t1 v = 0 + 1 - 1 (last step's spike through -1)
    = 0; t2 spikes; ... so n fires [1, 0, 1, 0, 1]."""
    one = np.ones(1)
    nodes = {"input": nir.Input(input_type=np.array([1])), "a": nir.Linear(weight=np.ones((1, 1))),
             "n": nir.IF(r=one, v_threshold=0.5 * one, v_reset=0 * one), "rec": nir.Linear(weight=-np.ones((1, 1))),
             "output": nir.Output(output_type=np.array([1]))}
    edges = [("input", "a"), ("a", "n"), ("n", "rec"), ("rec", "n"), ("n", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1.0, **(metadata or {})})
