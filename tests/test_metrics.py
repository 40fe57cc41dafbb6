"""PAR metrics against cases computed by hand (Rethinking_of_PAR's and VTB's definitions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnpar.metrics import compute_metrics

# 4 samples x 3 attributes. Predictions (prob > threshold) are
#   [1,0,0], [0,0,0], [1,0,1], [1,1,1]
LABELS = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1]])
PROBS = np.array([[0.9, 0.2, 0.5], [0.1, 0.3, 0.4], [0.8, 0.1, 0.7], [0.6, 0.95, 0.51]])


def test_label_based_mean_accuracy_by_hand():
    m = compute_metrics(PROBS, LABELS)
    # attr0: TP/P = 2/2, TN/N = 1/2 -> .75; attr1: 1/2, 2/2 -> .75; attr2: 1/2, 1/2 -> .5  (0.5 is not > 0.5)
    assert [r.ma for r in m.per_attribute] == pytest.approx([0.75, 0.75, 0.5])
    assert [r.tpr for r in m.per_attribute] == pytest.approx([1.0, 0.5, 0.5])
    assert [r.tnr for r in m.per_attribute] == pytest.approx([0.5, 1.0, 0.5])
    assert [r.positive_ratio for r in m.per_attribute] == pytest.approx([0.5, 0.5, 0.5])
    assert m.mA == pytest.approx(2 / 3)


def test_instance_based_metrics_by_hand_with_an_empty_instance():
    m = compute_metrics(PROBS, LABELS)
    # per sample (inter, union, |pred|, |gt|): (1,2,1,2), (0,0,0,0) -> all 0, (1,3,2,2), (2,3,3,2)
    assert m.accuracy == pytest.approx((1 / 2 + 0 + 1 / 3 + 2 / 3) / 4)
    assert m.precision == pytest.approx((1 + 0 + 1 / 2 + 2 / 3) / 4)  # 13/24
    assert m.recall == pytest.approx((1 / 2 + 0 + 1 / 2 + 1) / 4)  # 1/2
    assert m.f1 == pytest.approx(13 / 25)  # 2PR/(P+R) of the means
    assert m.as_row() == pytest.approx(
        {"mA": 200 / 3, "Acc": 37.5, "Prec": 1300 / 24, "Recall": 50.0, "F1": 52.0}
    )


def test_vtb_definition_uses_threshold_045_and_the_mean_of_per_sample_f1():
    probs = PROBS.copy()
    probs[1, 0] = 0.47  # positive at 0.45, negative at 0.5
    m = compute_metrics(probs, LABELS, definition="vtb")
    assert m.threshold == 0.45
    # at 0.45 sample 0 also predicts attr2 (0.5): {0,2} = Y -> F1 1; sample 1 predicts {0} with no
    # positive label -> 0; sample 2 {0,2} vs {0,1} -> 1/2; sample 3 {0,1,2} vs {1,2} -> 2(2/3)(1)/(5/3)
    f1_per_sample = [1.0, 0.0, 0.5, 0.8]
    assert m.f1 == pytest.approx(np.mean(f1_per_sample))
    assert m.per_attribute[0].tnr == pytest.approx(0.0)  # both negatives of attr0 now predicted positive
    assert compute_metrics(probs, LABELS).per_attribute[0].tnr == pytest.approx(0.5)


def test_explicit_threshold_torch_inputs_and_names():
    m = compute_metrics(
        torch.tensor(PROBS), torch.tensor(LABELS), threshold=0.05, attribute_names=["a", "b", "c"]
    )
    # everything predicted positive: TPR 1, TNR 0 for every attribute
    assert m.mA == pytest.approx(0.5) and m.recall == pytest.approx(0.75)  # sample 1 has no positives: 0
    assert [r.name for r in m.per_attribute] == ["a", "b", "c"]


def test_unknown_labels_count_as_neither_positive_nor_negative():
    m = compute_metrics(np.array([[0.9], [0.9], [0.1]]), np.array([[1], [2], [0]]))
    assert m.per_attribute[0].tpr == pytest.approx(1.0) and m.per_attribute[0].tnr == pytest.approx(1.0)


def test_per_attribute_table_text_and_csv():
    m = compute_metrics(PROBS, LABELS, attribute_names=["Hat", "Glasses", "boots"])
    text = m.per_attribute_table()
    assert text.splitlines()[1].split() == ["Hat", "50.00", "100.00", "50.00", "75.00"]
    csv = m.per_attribute_table(["x", "y", "z"], fmt="csv").splitlines()
    assert csv[0] == "attribute,positive_ratio,TPR,TNR,mA" and csv[3] == "z,50.0000,50.0000,50.0000,50.0000"
    with pytest.raises(ValueError, match="2 names given for 3 attributes"):
        m.per_attribute_table(["x", "y"])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        compute_metrics(PROBS, LABELS[:2])
    with pytest.raises(ValueError, match="definition"):
        compute_metrics(PROBS, LABELS, definition="mine")
