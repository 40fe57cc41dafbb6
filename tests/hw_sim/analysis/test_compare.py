"""Fidelity measures on hand-made spikes, and the comparison of a real Norse run with its simulated graph."""

import json
import math

import numpy as np
import pytest

from hw_sim.analysis.compare import align_by_depth, compare_layer, compare_runs


def test_identical_spikes_are_exact():
    s = (np.random.default_rng(0).random((4, 2, 3, 5)) < 0.3).astype(float)
    f = compare_layer("l", s, s.copy())
    assert f.exact and f.spike_match_rate == 1.0 and f.spike_count_correlation == 1.0
    assert f.reference_rate == f.candidate_rate == pytest.approx(s.mean())


def test_one_flipped_spike_is_located_and_counted():
    ref = np.zeros((4, 1, 10))
    ref[:, 0, :5] = 1
    cand = ref.copy()
    cand[2, 0, 7] = 1  # one extra spike at step 2
    f = compare_layer("l", ref, cand)
    assert f.first_divergent_step == 2
    assert f.spike_match_rate == 1 - 1 / 40
    assert f.reference_spikes == 20 and f.candidate_spikes == 21
    counts_ref, counts_cand = ref.sum(0).ravel(), cand.sum(0).ravel()
    assert f.spike_count_correlation == pytest.approx(np.corrcoef(counts_ref, counts_cand)[0, 1])


def test_batchless_candidate_and_silent_layers():
    ref = np.zeros((3, 1, 4))
    f = compare_layer("l", ref, np.zeros((3, 4)))
    assert f.exact
    cand = np.zeros((3, 4))
    cand[0, 0] = 1
    assert math.isnan(compare_layer("l", ref, cand).spike_count_correlation)
    with pytest.raises(ValueError, match="align time"):
        compare_layer("l", ref, np.zeros((5, 1, 4)))


def test_depth_alignment_drops_each_nodes_delay():
    raw = np.arange(6)[:, None, None] * np.ones((6, 1, 2))
    aligned = align_by_depth({"a": raw, "b": raw[:4]}, {"a": 2, "b": 0}, time_steps=4)
    assert aligned["a"][:, 0, 0].tolist() == [2, 3, 4, 5] and aligned["b"].shape[0] == 4
    with pytest.raises(ValueError, match="delay of 3"):
        align_by_depth({"a": raw}, {"a": 3}, time_steps=4)


def test_report_agreement_json_and_table():
    ref = {"x": np.ones((2, 2, 3))}
    logits_a = np.array([[1.0, -1.0], [0.5, 2.0]])
    logits_b = np.array([[1.0, 0.2], [0.5, 2.0]])  # one decision flips
    report = compare_runs("norse", ref, logits_a, "lava float", ref, logits_b)
    assert report.attribute_agreement == 0.75 and report.max_logit_difference == pytest.approx(1.2)
    assert report.exact
    data = json.loads(json.dumps(report.to_dict()))
    assert data["layers"][0]["spike_match_rate"] == 1.0
    assert "lava float vs norse" in report.table()
